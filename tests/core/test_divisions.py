"""The administrative-division table and its lookups (no database, no app)."""

from __future__ import annotations

import csv

import pytest

from core import divisions
from core.divisions import DATA_FILE, MUNICIPALITIES

# Cities whose districts/counties are all in the table, with their counts in GB/T 2260 today
FULLY_COVERED = {
    "110000": 16,  # 北京
    "120000": 16,  # 天津
    "310000": 16,  # 上海
    "130100": 22,  # 石家庄 (8 districts, 11 counties, 3 county-level cities)
    "320100": 11,  # 南京
    "330100": 13,  # 杭州
    "440100": 11,  # 广州
    "440300": 9,  # 深圳
}
CITIES_WITHOUT_DISTRICTS = {"441900", "460400"}  # 东莞, 儋州


def rows():
    with DATA_FILE.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


# --- the table itself


def test_header_and_levels():
    with DATA_FILE.open(encoding="utf-8") as f:
        assert f.readline().strip() == "code,name,parent_code,level"
    assert {r["level"] for r in rows()} == {"province", "city", "district"}


def test_codes_are_six_digits_and_unique():
    codes = [r["code"] for r in rows()]
    assert all(len(code) == 6 and code.isdigit() for code in codes)
    assert len(codes) == len(set(codes))
    assert all(r["name"] and r["name"] == r["name"].strip() for r in rows())


def test_all_31_provinces_and_only_provinces_lack_a_parent():
    provinces = [r for r in rows() if r["level"] == "province"]
    assert len(provinces) == 31
    assert all(r["code"].endswith("0000") and r["parent_code"] == "" for r in provinces)
    assert all(r["parent_code"] for r in rows() if r["level"] != "province")
    assert {r["code"]: r["name"] for r in provinces}["650000"] == "新疆维吾尔自治区"


def test_every_parent_exists_one_level_up():
    by_code = {r["code"]: r for r in rows()}
    for r in rows():
        if r["level"] == "city":
            assert by_code[r["parent_code"]]["level"] == "province", r
        elif r["level"] == "district":
            # a district hangs off a city, or off a province for municipalities and province-administered units
            assert by_code[r["parent_code"]]["level"] in ("city", "province"), r


def test_codes_share_their_parents_prefix():
    by_code = {r["code"]: r for r in rows()}
    for r in rows():
        code, parent = r["code"], r["parent_code"]
        if r["level"] == "province":
            continue
        assert code[:2] == parent[:2], r
        if r["level"] == "city":
            assert code.endswith("00") and not code.endswith("0000"), r
        elif by_code[parent]["level"] == "city":
            assert code[:4] == parent[:4] and not code.endswith("00"), r
        else:
            assert not code.endswith("00"), r


def test_municipalities_have_no_city_row():
    assert not [r for r in rows() if r["level"] == "city" and r["parent_code"] in MUNICIPALITIES]


def test_every_province_has_its_capital_and_another_city():
    # municipalities count as their own city; every other province needs at least two city-level units
    for province in (r for r in rows() if r["level"] == "province" and r["code"] not in MUNICIPALITIES):
        cities = [r for r in rows() if r["level"] == "city" and r["parent_code"] == province["code"]]
        assert len(cities) >= 2, province


def test_only_known_cities_lack_districts():
    # a city added without its districts would otherwise pass for a district-level unit
    childless = {r["code"] for r in rows() if r["level"] == "city"} - {r["parent_code"] for r in rows()}
    assert childless == CITIES_WITHOUT_DISTRICTS


@pytest.mark.parametrize(("city_code", "count"), FULLY_COVERED.items())
def test_fully_covered_cities(city_code, count):
    assert len(divisions.districts(city_code=city_code)) == count


def test_size_stays_small():
    assert 250 <= len(rows()) <= 400


# --- lookups


def test_get():
    assert divisions.get("440106") == divisions.Division("440106", "天河区", "440100", "district")
    assert divisions.get("310000").parent_code is None
    assert divisions.get("999999") is None
    assert divisions.get("") is None


def test_is_district():
    assert divisions.is_district("440106")
    assert divisions.is_district("130133")  # 赵县, a county
    assert divisions.is_district("441900")  # 东莞 has no districts
    assert divisions.is_district("429004")  # 仙桃, province-administered
    assert not divisions.is_district("440100")
    assert not divisions.is_district("440000")
    assert not divisions.is_district("310000")
    assert not divisions.is_district("999999")


def test_province_and_city_of():
    assert divisions.province_of("440106").code == "440000"
    assert divisions.city_of("440106").code == "440100"
    assert divisions.province_of("440100").code == "440000"
    assert divisions.city_of("440100").code == "440100"
    # a municipality is its own city
    assert divisions.city_of("310115").code == "310000"
    assert divisions.province_of("310115").code == "310000"
    assert divisions.city_of("310000").code == "310000"
    # 东莞 and 仙桃 are their own city
    assert divisions.city_of("441900").code == "441900"
    assert divisions.city_of("429004").code == "429004"
    assert divisions.province_of("429004").code == "420000"
    assert divisions.city_of("440000") is None
    assert divisions.city_of("999999") is None and divisions.province_of("999999") is None


def test_full_name():
    assert divisions.full_name("440106") == "广东省广州市天河区"
    assert divisions.full_name("440106", sep=" ") == "广东省 广州市 天河区"
    assert divisions.full_name("310115") == "上海市浦东新区"
    assert divisions.full_name("110105", sep="/") == "北京市/朝阳区"
    assert divisions.full_name("500103") == "重庆市渝中区"
    assert divisions.full_name("441900") == "广东省东莞市"
    assert divisions.full_name("429004") == "湖北省仙桃市"
    assert divisions.full_name("440100") == "广东省广州市"
    assert divisions.full_name("440000") == "广东省"
    assert divisions.full_name("310000") == "上海市"
    assert divisions.full_name("999999") is None


def test_every_district_has_a_province_and_city():
    for d in divisions.districts():
        assert divisions.province_of(d.code).level == "province"
        assert divisions.city_of(d.code) is not None
        assert divisions.full_name(d.code).startswith(divisions.province_of(d.code).name)


def test_districts_filters():
    everything = divisions.districts()
    assert everything == sorted(everything, key=lambda d: d.code)
    assert all(divisions.is_district(d.code) for d in everything)
    assert "441900" in {d.code for d in everything}
    guangdong = divisions.districts(province_code="440000")
    assert {divisions.city_of(d.code).code for d in guangdong} == {"440100", "440300", "441900"}
    assert [d.code for d in divisions.districts(city_code="441900")] == ["441900"]
    assert {d.code for d in divisions.districts(city_code="440300")} >= {"440305", "440309"}
    assert divisions.districts(province_code="440000", city_code="310000") == []
    shanghai = divisions.districts(city_code="310000")
    assert shanghai == divisions.districts(province_code="310000")
    assert "310115" in {d.code for d in shanghai}


@pytest.mark.parametrize(
    ("province", "city", "district"),
    [
        ("广东省", "广州市", "天河区"),
        ("广东", "广州", "天河"),
        ("广东省", "广州", "天河区"),
        (" 广东 ", "广州市 ", " 天河"),
    ],
)
def test_resolve_with_and_without_suffixes(province, city, district):
    assert divisions.resolve(province, city, district) == "440106"


def test_resolve_municipalities():
    assert divisions.resolve("上海", "上海市", "浦东新区") == "310115"
    assert divisions.resolve("上海市", "市辖区", "浦东") == "310115"
    assert divisions.resolve("上海", "", "徐汇") == "310104"
    assert divisions.resolve("北京", "朝阳区", "三环以内") == "110105"  # some platforms shift the fields
    assert divisions.resolve("北京", "北京", "朝阳") == "110105"  # not 长春's 朝阳区
    assert divisions.resolve("天津", "天津", "滨海") == "120116"
    assert divisions.resolve("重庆", "重庆", "渝中区") == "500103"
    assert divisions.resolve("上海", "上海", "") == "310000"


def test_resolve_cities_without_districts_and_province_administered_units():
    assert divisions.resolve("广东", "东莞", "") == "441900"
    assert divisions.resolve("广东省", "东莞市", "长安镇") == "441900"
    assert divisions.resolve("湖北省", "仙桃市", "仙桃市") == "429004"
    assert divisions.resolve("湖北", "省直辖县级行政区划", "仙桃") == "429004"
    assert divisions.resolve("湖北", "", "仙桃市") == "429004"
    assert divisions.resolve("河南", "济源", "") == "419001"


def test_resolve_other_spellings():
    assert divisions.resolve("广西", "南宁", "青秀") == "450103"
    assert divisions.resolve("新疆", "乌鲁木齐", "天山") == "650102"
    assert divisions.resolve("内蒙古", "呼和浩特", "赛罕") == "150105"
    assert divisions.resolve("云南", "大理州", "大理") == "532901"
    assert divisions.resolve("云南省", "大理", "祥云县") == "532923"
    assert divisions.resolve("河南", "郑州", "管城") == "410104"
    assert divisions.resolve("吉林", "吉林", "昌邑") == "220202"
    assert divisions.resolve("吉林", "长春", "朝阳") == "220104"
    assert divisions.resolve("河北", "石家庄", "赵县") == "130133"
    assert divisions.resolve("河北", "石家庄", "井陉") == "130121"  # the county, not 井陉矿区
    assert divisions.resolve("河北", "石家庄", "井陉矿区") == "130107"
    assert divisions.resolve("浙江", "杭州", "临平") == "330113"


def test_resolve_returns_the_most_specific_match():
    assert divisions.resolve("广东", "广州", "") == "440100"
    assert divisions.resolve("广东", "广州", "不存在区") == "440100"
    assert divisions.resolve("广东", "", "") == "440000"
    assert divisions.resolve("广东", "广洲", "天河区") == "440106"  # misspelt city, unique district
    assert divisions.resolve("广东", "深圳", "天河") == "440300"  # 天河 is not in 深圳


def test_resolve_unknown_or_ambiguous_names():
    assert divisions.resolve("火星", "广州", "天河") is None
    assert divisions.resolve("", "广州", "天河") is None
    assert divisions.resolve(None) is None
    assert divisions.resolve("广", "广州", "天河") is None  # one character is not enough
    assert divisions.resolve("南", "", "") is None
    assert divisions.resolve("广东", "广", "") == "440000"
    assert divisions.resolve("海南", "", "龙华区") == "460106"
    assert divisions.resolve("广东", "", "龙华区") == "440309"


def test_table_is_loaded_once():
    divisions.get("440106")
    before = divisions._table.cache_info().misses
    divisions.resolve("广东", "广州", "天河")
    divisions.full_name("310115")
    assert divisions._table.cache_info().misses == before


def test_same_name_twice_is_ambiguous():
    twins = [divisions.get("220104"), divisions.get("110105")]  # both 朝阳区
    assert divisions._match("朝阳区", twins) is None
    assert divisions._match("朝阳", twins) is None
    assert divisions.resolve("北京", "", "朝阳") == "110105"  # scoped by the province, it is unique
