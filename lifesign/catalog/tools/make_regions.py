"""Generate the packaged `regions.yaml` of Bozhou: counties, townships, villages, grids.

The four county-level divisions and their township-level divisions are Bozhou's real ones.
The villages/communities under each township and the grids under each village are plausible,
generated deterministically (fixed seed): the same script always writes the same bytes.
The resulting YAML is the data; a real city replaces it with its own region file.

Codes: county 6 digits; township = county + 3 digits (街道 001-099, 镇 100-199, 乡 200-299);
village = township + 3 digits (社区 001-199, urban; 村 200-399, rural); grid = village + 3 digits.

Run:  python -m lifesign.catalog.tools.make_regions [OUT]   (default: the packaged data file)
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

SEED = 3416

CITY = ("3416", "亳州市", "Bozhou")

# (code, name) of each county-level division and the names of its township-level divisions.
COUNTIES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "341602",
        "谯城区",
        (
            "花戏楼街道",
            "薛阁街道",
            "咸宁街道",
            "汤陵街道",
            "古井镇",
            "芦庙镇",
            "华佗镇",
            "魏岗镇",
            "牛集镇",
            "颜集镇",
            "五马镇",
            "十河镇",
            "十八里镇",
            "谯东镇",
            "大杨镇",
            "城父镇",
            "龙扬镇",
            "双沟镇",
            "观堂镇",
            "沙土镇",
            "古城镇",
            "立德镇",
            "淝河镇",
            "十九里镇",
            "赵桥乡",
            "张店乡",
        ),
    ),
    (
        "341621",
        "涡阳县",
        (
            "城关街道",
            "星园街道",
            "涡南街道",
            "城西街道",
            "西阳镇",
            "楚店镇",
            "高公镇",
            "高炉镇",
            "曹市镇",
            "青疃镇",
            "石弓镇",
            "龙山镇",
            "义门镇",
            "新兴镇",
            "临湖镇",
            "丹城镇",
            "马店集镇",
            "花沟镇",
            "店集镇",
            "牌坊镇",
            "标里镇",
            "双庙镇",
            "陈大镇",
            "公吉寺镇",
        ),
    ),
    (
        "341622",
        "蒙城县",
        (
            "城关街道",
            "漆园街道",
            "庄周街道",
            "双涧镇",
            "小涧镇",
            "坛城镇",
            "许疃镇",
            "板桥集镇",
            "马集镇",
            "岳坊镇",
            "立仓镇",
            "楚村镇",
            "乐土镇",
            "篱笆镇",
            "三义镇",
            "王集乡",
            "小辛集乡",
        ),
    ),
    (
        "341623",
        "利辛县",
        (
            "城关镇",
            "阚疃镇",
            "张村镇",
            "江集镇",
            "孙集镇",
            "汝集镇",
            "巩店镇",
            "王人镇",
            "马店孜镇",
            "程家集镇",
            "展沟镇",
            "中疃镇",
            "永兴镇",
            "大李集镇",
            "西潘楼镇",
            "望疃镇",
            "胡集镇",
            "旧城镇",
            "城北镇",
            "纪王场乡",
            "孙庙乡",
            "新张集乡",
        ),
    ),
)

COMMUNITY_STEMS = (
    "人民",
    "建设",
    "光明",
    "和平",
    "文化",
    "东关",
    "西关",
    "南关",
    "北关",
    "幸福",
    "康乐",
    "朝阳",
    "花园",
    "滨河",
    "涡河",
    "紫薇",
    "芍花",
    "药都",
    "健康",
    "锦绣",
    "学府",
    "站前",
    "新华",
    "友谊",
    "白布",
    "长安",
    "振兴",
    "团结",
    "汤王",
    "曹操",
    "庄子",
    "明珠",
    "盛世",
    "新城",
    "阳光",
    "天静",
    "希望",
    "欧亚",
    "华佗",
    "谯陵",
)
SURNAMES = (
    "张",
    "王",
    "李",
    "刘",
    "陈",
    "杨",
    "赵",
    "黄",
    "周",
    "吴",
    "徐",
    "孙",
    "胡",
    "朱",
    "高",
    "林",
    "何",
    "郭",
    "马",
    "罗",
    "梁",
    "宋",
    "郑",
    "谢",
    "韩",
    "唐",
    "冯",
    "于",
    "董",
    "萧",
    "程",
    "曹",
    "袁",
    "邓",
    "许",
    "傅",
    "沈",
    "曾",
    "彭",
    "吕",
    "苏",
    "卢",
    "蒋",
    "蔡",
    "贾",
    "丁",
    "魏",
    "薛",
    "叶",
    "阎",
    "余",
    "潘",
    "杜",
    "戴",
    "夏",
    "钟",
    "汪",
    "田",
    "任",
    "姜",
    "范",
    "方",
    "石",
    "姚",
    "谭",
    "廖",
    "邹",
    "熊",
    "金",
    "陆",
    "郝",
    "孔",
    "白",
    "崔",
    "康",
    "毛",
    "邱",
    "秦",
    "江",
    "史",
    "顾",
    "侯",
    "邵",
    "孟",
    "龙",
    "万",
    "段",
    "雷",
    "钱",
    "汤",
)
VILLAGE_SUFFIXES = (
    "庄",
    "寨",
    "楼",
    "集",
    "湖",
    "营",
    "店",
    "桥",
    "圩",
    "园",
    "庙",
    "洼",
    "岗",
    "台",
    "沟",
    "阁",
    "河",
    "口",
    "坊",
    "屯",
)
LEVEL_ZH = {"county": "县/区", "township": "乡镇/街道", "village": "村/社区", "grid": "网格"}


def _township_kind(name: str) -> str:
    if name.endswith("街道"):
        return "street"
    if name.endswith("乡"):
        return "xiang"
    return "zhen"


def _stem(name: str) -> str:
    for suffix in ("街道", "镇", "乡"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _villages(rng: random.Random, township: str) -> list[tuple[str, bool]]:
    """(name, urban) of the villages/communities of one township."""
    kind = _township_kind(township)
    seat = township.startswith("城关")
    if kind == "street":
        n_comm, n_vill = rng.randint(9, 14), rng.randint(2, 5)
    elif seat:
        n_comm, n_vill = rng.randint(7, 10), rng.randint(6, 9)
    elif kind == "zhen":
        n_comm, n_vill = rng.randint(1, 3), rng.randint(10, 17)
    else:
        n_comm, n_vill = rng.randint(0, 1), rng.randint(9, 14)
    used: set[str] = set()
    out: list[tuple[str, bool]] = []
    stems = list(COMMUNITY_STEMS)
    rng.shuffle(stems)
    for i in range(n_comm):
        first = i == 0 and kind != "street"
        name = f"{_stem(township)}社区" if first else f"{stems.pop()}社区"
        if name in used:
            name = f"{stems.pop()}社区"
        used.add(name)
        out.append((name, True))
    while len(out) < n_comm + n_vill:
        name = f"{rng.choice(SURNAMES)}{rng.choice(VILLAGE_SUFFIXES)}村"
        if name in used:
            continue
        used.add(name)
        out.append((name, False))
    return out


def _q(text: str) -> str:
    return f'"{text}"'


def render() -> str:
    rng = random.Random(SEED)
    lines = [
        "# The region tree: county-level divisions, townships, villages/communities, grids.",
        "#",
        "# GENERATED by lifesign/catalog/tools/make_regions.py for the synthetic city; a real city",
        "# replaces this file with its own divisions (the counties and townships here are Bozhou's",
        "# real ones; villages, communities and grids are plausible inventions).",
        "#",
        "# city: the prefecture-level city: code (digits, quoted), name_zh, name_en.",
        "# regions: one entry per region, parents before their children. Fields:",
        "#   code     required, quoted digits. county 6 digits; township = county code + 3 digits",
        "#            (街道 001-099, 镇 100-199, 乡 200-299); village = township + 3 digits",
        "#            (社区 001-199, 村 200-399); grid = village + 3 digits.",
        "#            Every code starts with its parent's code (a county's with the city's).",
        "#   name_zh  required.",
        "#   level    required: county | township | village | grid.",
        "#   parent   required except for counties: code of the region one level up.",
        "#   urban    optional true/false: 街道, 社区 and their grids are urban. When left out a",
        "#            region inherits its parent's value (counties: false).",
        "",
        f"city: {{code: {_q(CITY[0])}, name_zh: {CITY[1]}, name_en: {CITY[2]}}}",
        "",
        "regions:",
    ]
    for county_code, county_name, townships in COUNTIES:
        lines.append(f"  # ---- {county_name} " + "-" * 70)
        lines.append(f"  - {{code: {_q(county_code)}, name_zh: {county_name}, level: county}}")
        counters = {"street": 0, "zhen": 99, "xiang": 199}
        for township in townships:
            kind = _township_kind(township)
            counters[kind] += 1
            t_code = f"{county_code}{counters[kind]:03d}"
            urban = "true" if kind == "street" else "false"
            lines.append("")
            lines.append(
                f"  - {{code: {_q(t_code)}, name_zh: {township}, level: township, "
                f"parent: {_q(county_code)}, urban: {urban}}}"
            )
            n_comm = n_vill = 0
            for name, is_urban in _villages(rng, township):
                if is_urban:
                    n_comm += 1
                    v_code = f"{t_code}{n_comm:03d}"
                else:
                    v_code = f"{t_code}{200 + n_vill:03d}"
                    n_vill += 1
                lines.append(
                    f"  - {{code: {_q(v_code)}, name_zh: {name}, level: village, "
                    f"parent: {_q(t_code)}, urban: {'true' if is_urban else 'false'}}}"
                )
                for g in range(1, rng.randint(2, 4) + 1):
                    lines.append(
                        f"  - {{code: {_q(f'{v_code}{g:03d}')}, name_zh: 第{g}网格, level: grid, "
                        f"parent: {_q(v_code)}}}"
                    )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    default = Path(__file__).resolve().parent.parent / "data" / "regions.yaml"
    out = Path(args[0]) if args else default
    out.write_text(render(), encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
