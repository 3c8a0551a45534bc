"""Chinese names: surnames with realistic frequencies, given names by generation and sex.

Surname weights are per mille of the population, after the 2020 census ranking (rounded;
northern Anhui has a few more 李, 王, 张, 刘). Given names follow the fashions of the year of
birth: 秀英/桂兰/建国 for people born before the 1950s, 红梅/建军/卫东 for the 1960s-70s,
婷/浩/静 for the 1980s-90s and 子涵/梓轩/欣怡 for children of the 2010s. Half of the given
names are taken whole from these lists, the other half are composed from their first and
second characters, so there are thousands of distinct names per generation, as in life, with
the famous ones (张秀英, 王建国) common.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

SURNAMES: tuple[tuple[str, float], ...] = (
    ("王", 74), ("李", 74), ("张", 70), ("刘", 56), ("陈", 45), ("杨", 31), ("黄", 25),
    ("赵", 23), ("吴", 20), ("周", 19), ("徐", 15), ("孙", 15), ("马", 14), ("朱", 13),
    ("胡", 13), ("郭", 12), ("何", 12), ("高", 11), ("林", 11), ("罗", 10), ("郑", 9),
    ("梁", 9), ("谢", 8), ("宋", 7), ("唐", 7), ("许", 7), ("韩", 6), ("冯", 6), ("邓", 6),
    ("曹", 6), ("彭", 5), ("曾", 5), ("肖", 5), ("田", 5), ("董", 5), ("袁", 5), ("潘", 4),
    ("于", 4), ("蒋", 4), ("蔡", 4), ("余", 4), ("杜", 4), ("叶", 4), ("程", 4), ("苏", 3),
    ("魏", 3), ("吕", 3), ("丁", 3), ("任", 3), ("沈", 3), ("姚", 3), ("卢", 3), ("姜", 3),
    ("崔", 3), ("钟", 3), ("谭", 3), ("陆", 3), ("汪", 3), ("范", 3), ("金", 3), ("石", 3),
    ("廖", 2), ("贾", 2), ("夏", 2), ("韦", 2), ("付", 2), ("方", 2), ("白", 2), ("邹", 2),
    ("孟", 2), ("熊", 2), ("秦", 2), ("邱", 2), ("江", 2), ("尹", 2), ("薛", 2), ("闫", 2),
    ("段", 2), ("雷", 2), ("侯", 2), ("龙", 2), ("史", 2), ("陶", 1), ("黎", 1), ("贺", 1),
    ("顾", 1), ("毛", 1), ("郝", 1), ("龚", 1), ("邵", 1), ("万", 1), ("钱", 1), ("严", 1),
    ("武", 1), ("戴", 1), ("莫", 1), ("孔", 1), ("向", 1), ("汤", 1), ("常", 1), ("葛", 1),
    ("耿", 1), ("单", 1), ("牛", 1), ("欧阳", 0.3), ("司马", 0.1), ("诸葛", 0.1),
)  # fmt: skip

# Generations by year of birth: before 1955, 1955-1979, 1980-2004, 2005 and later.
GENERATION_BOUNDS = (1955, 1980, 2005)

GIVEN_NAMES: dict[tuple[int, int], tuple[str, ...]] = {
    # (generation, sex) -> names; sex 1 male, 0 female
    (0, 1): (
        "建国", "国华", "德明", "德福", "文华", "志强", "玉林", "福田", "长山", "永贵", "金山",
        "明", "华", "忠", "海", "保国", "学文", "春生", "秋生", "振华", "凤山", "广才", "守仁",
        "树林", "庆余", "立本", "有才", "恩普", "继承", "万山", "兴旺", "德才", "成", "贵",
    ),
    (0, 0): (
        "秀英", "桂兰", "玉兰", "秀兰", "凤英", "桂英", "玉梅", "淑珍", "翠花", "秀珍", "玉珍",
        "兰英", "凤兰", "秀云", "素英", "桂芳", "淑英", "春兰", "小妹", "玉芳", "金凤", "爱莲",
        "桂香", "秀芝", "月英", "英", "兰", "凤", "梅", "芳", "玉英", "素珍", "秀荣",
    ),
    (1, 1): (
        "卫东", "建军", "红兵", "志刚", "永强", "国强", "海涛", "勇", "军", "伟", "强", "磊",
        "斌", "辉", "建华", "文斌", "晓东", "立新", "向阳", "振宇", "跃进", "红旗", "新民",
        "小兵", "长江", "洪涛", "俊峰", "明亮", "春雷", "德胜", "建设", "卫国",
    ),
    (1, 0): (
        "红梅", "丽", "霞", "燕", "艳", "丽华", "海燕", "玉霞", "红霞", "秀梅", "晓红", "春燕",
        "丽娟", "小红", "桂珍", "建英", "秀琴", "爱华", "卫红", "彩霞", "静", "敏", "娟", "芳",
        "英", "晓燕", "丽萍", "翠萍", "美玲", "慧",
    ),
    (2, 1): (
        "浩", "鹏", "杰", "涛", "超", "磊", "帅", "宇", "明", "洋", "晨", "伟", "鑫", "俊杰",
        "浩然", "子豪", "宇航", "文博", "家豪", "志豪", "天宇", "博文", "嘉伟", "晨阳", "鹏飞",
        "一鸣", "思远", "泽宇", "明轩", "浩宇",
    ),
    (2, 0): (
        "婷", "静", "雪", "丹", "倩", "悦", "欣", "佳", "琪", "思雨", "欣怡", "佳怡", "雨婷",
        "梦琪", "诗涵", "晓雯", "心怡", "雨欣", "婉婷", "佳琪", "可欣", "慧敏", "雅琪", "紫涵",
        "梦瑶", "思琪", "雨涵", "婧", "琳", "璐",
    ),
    (3, 1): (
        "子涵", "梓轩", "浩然", "宇轩", "一诺", "子墨", "皓轩", "沐宸", "俊熙", "梓睿", "浩宇",
        "奕辰", "宇泽", "子轩", "铭泽", "锦程", "思远", "博文", "睿泽", "晨曦", "恩泽", "辰逸",
        "嘉懿", "梓豪", "天佑", "瑞霖", "煜祺", "明哲", "子骞", "宸",
    ),
    (3, 0): (
        "欣怡", "梓涵", "子涵", "诗涵", "一诺", "雨桐", "可馨", "梓萱", "若汐", "依诺", "语桐",
        "思涵", "欣妍", "紫萱", "雨萱", "诗琪", "梦瑶", "梓琪", "晨曦", "语嫣", "芷若", "可欣",
        "佳怡", "安琪", "若曦", "依依", "沐晴", "心悦", "书瑶", "悦",
    ),
}  # fmt: skip


def _given_pool(generation: int, sex: int) -> list[str]:
    """Whole names of the list, then compositions of their first and second characters."""
    whole = list(GIVEN_NAMES[(generation, sex)])
    firsts = sorted({n[0] for n in whole if len(n) == 2})
    seconds = sorted({n[1] for n in whole if len(n) == 2})
    composed = sorted({a + b for a in firsts for b in seconds if a != b} - set(whole))
    return whole + composed


def generation_of(birth_year: npt.NDArray[np.int32]) -> npt.NDArray[np.int8]:
    return np.searchsorted(np.array(GENERATION_BOUNDS), birth_year, side="right").astype(np.int8)


def make_names(
    rng: np.random.Generator,
    sex: npt.NDArray[np.int8],
    birth_year: npt.NDArray[np.int32],
) -> pa.StringArray:
    """One Chinese name per person, vectorised: surname + a given name of their generation."""
    n = len(sex)
    weights = np.array([w for _, w in SURNAMES], dtype=np.float64)
    surname_idx = rng.choice(len(SURNAMES), size=n, p=weights / weights.sum())
    surnames = pa.array([s for s, _ in SURNAMES], pa.string()).take(pa.array(surname_idx))

    generation = generation_of(birth_year)
    pools: list[str] = []
    offsets = np.zeros((4, 2), dtype=np.int64)
    sizes = np.zeros((4, 2), dtype=np.int64)
    whole_sizes = np.zeros((4, 2), dtype=np.int64)
    for g in range(4):
        for s in range(2):
            pool = _given_pool(g, s)
            offsets[g, s] = len(pools)
            sizes[g, s] = len(pool)
            whole_sizes[g, s] = len(GIVEN_NAMES[(g, s)])
            pools.extend(pool)
    sx = sex.astype(np.int64)
    g64 = generation.astype(np.int64)
    # Half take a whole listed name (so the common names are common), half a composed one.
    whole = rng.random(n) < 0.5
    u = rng.random(n)
    limit = np.where(whole, whole_sizes[g64, sx], sizes[g64, sx])
    pick = offsets[g64, sx] + np.minimum((u * limit).astype(np.int64), limit - 1)
    given = pa.array(pools, pa.string()).take(pa.array(pick))
    joined = pc.binary_join_element_wise(surnames, given, "")
    assert isinstance(joined, pa.StringArray)
    return joined
