"""Excel import of customers, contacts and shipments: templates, streamed reading, the dry run and the write.

`templates` says which columns each entity takes and writes the downloadable template; `reader` streams
the rows of an uploaded .xlsx; `runner` is the background job (dry run, then the write in one transaction)
and the two calls the screens and the API make: `create_import` (store the upload, enqueue the dry run) and
`request_write` (start the write of a checked run).
"""

from core.importing.reader import ImportFileError
from core.importing.runner import create_import, request_write, run_import
from core.importing.templates import ENTITIES, template_workbook

__all__ = ["ENTITIES", "ImportFileError", "create_import", "request_write", "run_import", "template_workbook"]
