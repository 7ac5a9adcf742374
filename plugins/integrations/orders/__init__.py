"""E-commerce order pull: shops on Taobao/Tmall, Pinduoduo and JD, their orders pulled on a schedule into
customers' shipments, and a local simulator of the three platforms for tests and the demo.

Modules: `platforms` (adapters: signing, requests, parsing), `models`, `mapping` (orders into shipments),
`pull` (windows, pages, cursor; the periodic job), `simulator`, `views`, `demo`.
"""

from core.jobs import PeriodicJob
from plugins.integrations.orders.demo import start_demo
from plugins.integrations.orders.models import OrderShop, PlatformOrderRow
from plugins.integrations.orders.views import PERMISSIONS, add_views

MODELS = [OrderShop, PlatformOrderRow]
PERIODIC_JOBS = [PeriodicJob("pull_orders", "plugins.integrations.orders.pull:pull_orders", interval=600)]

__all__ = ["MODELS", "PERIODIC_JOBS", "PERMISSIONS", "add_views", "start_demo"]
