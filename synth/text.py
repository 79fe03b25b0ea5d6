"""Word lists and text helpers for the synthetic world: company and person names, name
variants as clerks write them, addresses and goods descriptions per HS code.

Everything here is fictional. Functions take a numpy Generator so output is deterministic.
"""

from __future__ import annotations

import numpy as np

# ---------------------------------------------------------------- company names

_CORES: dict[str, tuple[str, ...]] = {
    "CN": (
        "Huayang",
        "Hengda",
        "Jinli",
        "Xinhua",
        "Tianrun",
        "Ruifeng",
        "Shengtai",
        "Hongyuan",
        "Jiahe",
        "Dongfang",
        "Zhongxin",
        "Longsheng",
        "Yongtai",
        "Haoxiang",
        "Baoshan",
        "Kaixin",
        "Minghui",
        "Fuda",
        "Lianfa",
        "Guotai",
        "Xingda",
        "Huaxin",
        "Jinhai",
        "Yuanda",
        "Tongwei",
        "Chuangxin",
        "Boyuan",
        "Qiangsheng",
        "Shunfeng",
        "Weiye",
        "Xinyuan",
        "Yida",
        "Huatai",
        "Lingyun",
        "Zhongcheng",
        "Dingsheng",
        "Changhong",
        "Rongxin",
        "Haitian",
        "Anda",
        "Jiarui",
        "Hongda",
        "Tianyi",
        "Wanxiang",
        "Zhenhua",
        "Jinxin",
        "Sanhe",
        "Kangda",
        "Huamei",
        "Lixin",
        "Fengyuan",
        "Jingcheng",
        "Yuhua",
        "Dahua",
        "Shenghong",
        "Xinda",
    ),
    "VN": (
        "Minh Phat",
        "Thanh Cong",
        "Hoang Long",
        "Viet Tien",
        "An Phu",
        "Phuc Thinh",
        "Tan Thanh",
        "Hai Dang",
        "Dai Phat",
        "Nam Viet",
        "Thien Long",
        "Hung Thinh",
        "Bao Minh",
        "Gia Huy",
        "Truong Son",
        "Kim Long",
        "Phu Tai",
        "Duc Anh",
        "Quang Minh",
        "Sao Viet",
    ),
    "MY": (
        "Sinar",
        "Maju",
        "Jaya Makmur",
        "Perkasa",
        "Harmoni",
        "Tenaga",
        "Cahaya",
        "Mega Prima",
        "Seri Alam",
        "Bintang",
        "Lian Hin",
        "Kuan Seng",
        "Teguh",
        "Gemilang",
        "Setia Kawan",
    ),
    "TH": (
        "Siam Pacific",
        "Thai Rungroj",
        "Chaiyo",
        "Sombat",
        "Charoen",
        "Sahapat",
        "Siam Kraft",
        "Thanakorn",
        "Pattana",
        "Srithai",
        "Bangpoo",
        "Sukhum",
        "Rattana",
        "Wattana",
    ),
    "KR": (
        "Daewon",
        "Hanmi",
        "Sungjin",
        "Kumkang",
        "Jinwoo",
        "Dongil",
        "Haesung",
        "Seoyeon",
        "Taeyang",
        "Samhwa",
        "Youngjin",
        "Kyungdong",
        "Hanwool",
        "Myungsung",
    ),
    "JP": (
        "Yamato",
        "Sakura",
        "Fujimoto",
        "Kawada",
        "Nishida",
        "Hokuto",
        "Miyoshi",
        "Tokai",
        "Kanto",
        "Shinwa",
        "Daiichi",
        "Nakamura",
        "Sanyo Kiko",
        "Hoshino",
    ),
    "IN": (
        "Shree Ganesh",
        "Balaji",
        "Om Sai",
        "Vardhman",
        "Laxmi",
        "Sundaram",
        "Apex",
        "Krishna",
        "Shivam",
        "Mahalaxmi",
        "Bharat",
        "Suryodaya",
        "Navkar",
        "Jai Ambe",
    ),
    "ID": (
        "Sinar Jaya",
        "Maju Bersama",
        "Cahaya Abadi",
        "Mitra Sejahtera",
        "Karya Utama",
        "Bumi Lestari",
        "Surya Mandiri",
        "Indah Perkasa",
        "Tunas Harapan",
        "Mulia Jaya",
    ),
    "MM": (
        "Shwe Taung",
        "Myint Mo",
        "Aung Thiri",
        "Golden Lotus",
        "Yadanar",
        "Thiri Zaw",
        "Myanmar Pyi",
        "Ayeyar",
        "Htoo Kyaw",
        "Moe Kaung",
    ),
    "LA": (
        "Sengdao",
        "Phonsavanh",
        "Champa",
        "Lao Saysana",
        "Xaysomboun",
        "Vientiane Pacific",
        "Savan",
        "Luang Prabang",
        "Dokchampa",
        "Mekong Lao",
    ),
    "EN": (
        "Atlas",
        "Northbridge",
        "Meridian",
        "Keystone",
        "Blue Harbor",
        "Riverside",
        "Pioneer",
        "Summit",
        "Vanguard",
        "Crescent",
        "Orion",
        "Helix",
        "Nordic",
        "Baltic",
        "Alpine",
        "Sterling",
        "Granite",
        "Westfield",
        "Harborview",
        "Redwood",
        "Silverline",
        "Eastgate",
        "Brightwater",
        "Oakmont",
        "Falcon",
        "Lakeside",
        "Highland",
        "Cedar",
        "Beacon",
        "Horizon",
        "Trident",
        "Polaris",
        "Zenith",
        "Apex Global",
        "Unity",
        "Cobalt Bay",
        "Ironwood",
        "Seaview",
        "Kingsway",
        "Greenfield",
        "Bluestone",
        "Clearwater",
        "Stonebridge",
        "Everest",
        "Pacific Rim",
        "Continental",
        "Allied",
        "Premier",
        "Coastal",
        "Metro",
    ),
    "RU": (
        "Techsnab",
        "Promresurs",
        "Uralmet",
        "Sibtrade",
        "Baltservice",
        "Volgaprom",
        "Energokomplekt",
        "Tekhnoimport",
        "Severstroy",
        "Intermet",
        "Magnitprom",
        "Spetsmash",
    ),
    "TR": ("Anadolu", "Ege", "Marmara", "Toros", "Kuzey", "Yildiz", "Bosphorus", "Kapadokya"),
    "AE": (
        "Al Noor",
        "Gulf Star",
        "Desert Rose",
        "Al Waha",
        "Emirates Link",
        "Falcon Crest",
        "Al Safa",
        "Oasis",
        "Dune",
        "Al Rayan",
    ),
}

_CN_CITIES = (
    "Ningbo",
    "Shanghai",
    "Qingdao",
    "Xiamen",
    "Shenzhen",
    "Guangzhou",
    "Tianjin",
    "Dalian",
    "Suzhou",
    "Wuxi",
    "Hangzhou",
    "Foshan",
    "Dongguan",
    "Zibo",
    "Baotou",
    "Ganzhou",
    "Nanchang",
    "Changsha",
    "Chengdu",
    "Jiangxi",
    "Inner Mongolia",
    "Zhejiang",
    "Jiangsu",
    "Hebei",
)

INDUSTRY_WORDS: dict[str, tuple[str, ...]] = {
    "steel": ("Steel", "Iron & Steel", "Metal Products", "Metallurgical"),
    "metal": ("Metals", "Nonferrous Metals", "Copper Industry", "Aluminium"),
    "rare_earth": ("Rare Earth", "Rare Earth Materials", "New Materials", "Advanced Materials"),
    "magnet": ("Magnetic Materials", "Magnet Technology", "Magnetics", "Permanent Magnet"),
    "mineral": ("Mineral Products", "Mining", "Minerals", "Resources"),
    "ceramic": ("Ceramics", "Ceramic Industry", "Technical Ceramics", "Porcelain"),
    "refractory": ("Refractories", "Refractory Materials", "Kiln Materials"),
    "chemical": ("Chemical", "Chemicals", "Fine Chemical", "Chemical Industry"),
    "textile": ("Textile", "Garment", "Apparel", "Knitting"),
    "furniture": ("Furniture", "Home Furnishing", "Woodwork"),
    "electronics": ("Electronics", "Technology", "Digital Technology", "Communication"),
    "rubber": ("Tyre", "Rubber", "Rubber Products"),
    "plastics": ("Plastics", "Polymer", "Plastic Products"),
    "glass": ("Glass", "Glass Industry"),
    "agri": ("Agricultural Products", "Food", "Agro", "Seafood"),
    "machinery": ("Machinery", "Industrial", "Auto Parts", "Valve"),
    "trade": ("Import & Export", "Trading", "International Trade", "Supply Chain"),
    "consumer": ("Trading", "Imports", "Distribution", "Supply", "Industries", "Group"),
}

_SUFFIX: dict[str, tuple[str, ...]] = {
    "CN": ("Co., Ltd.",),
    "HK": ("Limited", "Co., Limited", "(HK) Limited"),
    "TW": ("Co., Ltd.",),
    "VN": ("Joint Stock Company", "Company Limited", "Co., Ltd"),
    "MY": ("Sdn. Bhd.",),
    "SG": ("Pte. Ltd.",),
    "TH": ("Co., Ltd.", "Public Co., Ltd."),
    "KR": ("Co., Ltd.",),
    "JP": ("Co., Ltd.", "Corporation", "K.K."),
    "IN": ("Pvt. Ltd.",),
    "ID": ("",),
    "MM": ("Co., Ltd.",),
    "LA": ("Sole Co., Ltd.", "Co., Ltd."),
    "US": ("Inc.", "LLC", "Corp."),
    "CA": ("Inc.", "Ltd."),
    "GB": ("Ltd", "Limited"),
    "DE": ("GmbH", "GmbH & Co. KG"),
    "NL": ("B.V.",),
    "BE": ("NV", "BV"),
    "FR": ("SAS", "SARL"),
    "IT": ("S.r.l.", "S.p.A."),
    "ES": ("S.L.", "S.A."),
    "PL": ("Sp. z o.o.",),
    "TR": ("A.S.", "Ltd. Sti."),
    "RU": ("LLC", "JSC"),
    "AE": ("FZE", "LLC", "FZCO"),
    "SA": ("Co.", "Trading Est."),
    "AU": ("Pty Ltd",),
    "BR": ("Ltda.",),
    "MX": ("S.A. de C.V.",),
    "KZ": ("LLP",),
    "GE": ("LLC",),
    "AM": ("LLC",),
    "KG": ("LLC",),
    "CY": ("Ltd",),
    "SC": ("Ltd",),
    "VG": ("Ltd",),
    "MH": ("Inc.",),
    "RS": ("d.o.o.",),
    "IR": ("Co.",),
    "PK": ("(Pvt) Ltd",),
    "BD": ("Ltd.",),
    "EG": ("S.A.E.",),
    "ZA": ("(Pty) Ltd",),
    "NG": ("Ltd",),
    "PH": ("Inc.", "Corporation"),
    "BY": ("LLC",),
    "EE": ("OU", "AS"),
}

_SUFFIX_VARIANTS: dict[str, tuple[str, ...]] = {
    "Co., Ltd.": ("Company Limited", "Co. Ltd", "CO.,LTD", "Co Ltd", "Co.,Ltd.", "Ltd."),
    "Co., Ltd": ("Company Limited", "Co. Ltd", "CO.,LTD", "Co Ltd"),
    "Sole Co., Ltd.": ("Sole Company Limited", "Sole Co Ltd", "Co., Ltd."),
    "Public Co., Ltd.": ("Public Company Limited", "PCL", "Pcl."),
    "Company Limited": ("Co., Ltd", "Co. Ltd", "Co Ltd", "Limited"),
    "Joint Stock Company": ("JSC", "J.S.C", "Joint-Stock Company", "Jsc"),
    "Sdn. Bhd.": ("Sdn Bhd", "SDN. BHD.", "S/B", "Sdn.Bhd"),
    "Pte. Ltd.": ("Pte Ltd", "Private Limited", "PTE. LTD"),
    "Pvt. Ltd.": ("Private Limited", "Pvt Ltd", "P. Ltd."),
    "(Pvt) Ltd": ("Private Limited", "Pvt Ltd"),
    "Limited": ("Ltd", "Ltd.", "LTD"),
    "Co., Limited": ("Co., Ltd", "Company Limited", "Co Ltd"),
    "(HK) Limited": ("(Hong Kong) Limited", "HK Ltd", "(HK) Ltd"),
    "Ltd": ("Limited", "Ltd."),
    "Ltd.": ("Limited", "Ltd"),
    "Inc.": ("Inc", "Incorporated", "INC"),
    "LLC": ("L.L.C.", "Llc", "Limited Liability Company"),
    "Corp.": ("Corporation", "Corp"),
    "Corporation": ("Corp.", "Corp"),
    "GmbH": ("Gmbh", "G.m.b.H."),
    "B.V.": ("BV", "B.V"),
    "FZE": ("F.Z.E.", "FZ E"),
    "FZCO": ("F.Z.C.O.", "FZ Co"),
    "A.S.": ("AS", "Anonim Sirketi"),
    "LLP": ("L.L.P.",),
    "S.r.l.": ("SRL", "Srl"),
    "S.L.": ("SL",),
    "S.A.": ("SA",),
    "SAS": ("S.A.S.",),
    "Pty Ltd": ("Pty. Ltd.", "Proprietary Limited"),
    "K.K.": ("Kabushiki Kaisha", "KK"),
    "JSC": ("Joint Stock Company", "AO"),
}

# Countries where company and person names follow the Russian style.
_RU_STYLE = dict.fromkeys(("RU", "BY", "KZ", "KG", "AM", "GE"), "RU")

COMPANY_COUNTRY_STYLE = {
    "CN": "CN",
    "HK": "CN",
    "TW": "CN",
    "VN": "VN",
    "MY": "MY",
    "SG": "EN",
    "TH": "TH",
    "KR": "KR",
    "JP": "JP",
    "IN": "IN",
    "ID": "ID",
    "MM": "MM",
    "LA": "LA",
    **_RU_STYLE,
    "TR": "TR",
    "AE": "AE",
    "SA": "AE",
    "IR": "AE",
}


def name_core(rng: np.random.Generator, country: str) -> str:
    """The distinctive word(s) of a company name, in a country's naming style."""
    return _pick(rng, _CORES[COMPANY_COUNTRY_STYLE.get(country, "EN")])


def company_name(rng: np.random.Generator, country: str, industry: str, core: str | None = None) -> str:
    """A plausible, fictional company name for a country and an industry word family."""
    style = COMPANY_COUNTRY_STYLE.get(country, "EN")
    given_core = core is not None
    core = core if core is not None else _pick(rng, _CORES[style])
    word = _pick(rng, INDUSTRY_WORDS[industry])
    suffix = _pick(rng, _SUFFIX.get(country, ("Ltd",)))
    if style == "CN" and country == "CN" and not given_core and rng.random() < 0.7:
        core = f"{_pick(rng, _CN_CITIES)} {core}"
    if country == "HK" and rng.random() < 0.3:
        core = f"{core} International"
    if country == "ID":
        return f"PT {core} {word}"
    return f"{core} {word} {suffix}".strip()


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def _typo(rng: np.random.Generator, text: str) -> str:
    letters = [i for i, ch in enumerate(text) if ch.isalpha()]
    if len(letters) < 4:
        return text
    i = letters[int(rng.integers(1, len(letters) - 1))]
    kind = int(rng.integers(3))
    if kind == 0:  # swap with next character
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :] if i + 1 < len(text) else text
    if kind == 1:  # drop a letter
        return text[:i] + text[i + 1 :]
    return text[:i] + text[i] + text[i:]  # double a letter


def _city_prefix(stem: str) -> str:
    return next((c for c in _CN_CITIES if stem.startswith(c + " ")), "")


def watch_aliases(rng: np.random.Generator, name: str, count: int) -> list[str]:
    """Aliases as sanctions lists carry them: suffix forms, capitals, shortened names."""
    out: list[str] = []
    for v in name_variants(rng, name, count=count * 4, typos=False):
        if v not in out and v != name:
            out.append(v)
    return out[:count]


def name_variants(rng: np.random.Generator, name: str, count: int = 5, typos: bool = True) -> list[str]:
    """Ways a clerk writes the same company name: suffix forms, case, punctuation, typos."""
    suffix = next(
        (s for s in sorted(_SUFFIX_VARIANTS, key=len, reverse=True) if name.endswith(" " + s)), None
    )
    stem = name[: -len(suffix) - 1] if suffix else name
    variants: list[str] = []
    for _ in range(count * 3):
        if len(variants) >= count:
            break
        kind = int(rng.integers(6))
        if kind == 3 and not typos:
            kind = 0
        if kind == 0 and suffix:
            v = f"{stem} {_pick(rng, _SUFFIX_VARIANTS[suffix])}"
        elif kind == 1:
            v = name.upper()
        elif kind == 2:
            v = " ".join(name.replace(".", "").replace(",", " ").replace("&", "and").split())
        elif kind == 3:
            v = _typo(rng, name)
        elif kind == 4 and _city_prefix(stem):
            v = stem[len(_city_prefix(stem)) + 1 :] + (f" {suffix}" if suffix else "")
        else:
            v = (stem.upper() + " " + (suffix or "")).strip()
        if v != name and v not in variants:
            variants.append(v)
    while len(variants) < count:
        variants.append(name)
    return variants


# ---------------------------------------------------------------- people and addresses

_SURNAMES = {
    "CN": (
        "Wang",
        "Li",
        "Zhang",
        "Liu",
        "Chen",
        "Yang",
        "Huang",
        "Zhao",
        "Wu",
        "Zhou",
        "Xu",
        "Sun",
        "Ma",
        "Zhu",
        "Hu",
        "Guo",
        "He",
        "Lin",
        "Gao",
        "Luo",
    ),
    "HK": ("Chan", "Wong", "Leung", "Cheung", "Lau", "Ho", "Ng", "Tse", "Yip", "Kwok"),
    "VN": ("Nguyen", "Tran", "Le", "Pham", "Hoang", "Vu", "Dang", "Bui", "Do", "Ngo"),
    "EN": (
        "Smith",
        "Miller",
        "Brown",
        "Wilson",
        "Taylor",
        "Anderson",
        "Thomas",
        "Moore",
        "Martin",
        "Clark",
        "Lewis",
        "Walker",
        "Hall",
        "Young",
        "King",
        "Wright",
        "Scott",
    ),
    "RU": ("Ivanov", "Petrov", "Sidorov", "Smirnov", "Kuznetsov", "Popov", "Volkov", "Sokolov"),
    "MY": ("Tan", "Lim", "Lee", "Ahmad", "Abdullah", "Ong", "Goh", "Ismail", "Wong", "Chong"),
}
_GIVEN = {
    "CN": (
        "Wei",
        "Jianguo",
        "Na",
        "Min",
        "Jun",
        "Hui",
        "Lei",
        "Yan",
        "Qiang",
        "Xiaoming",
        "Jing",
        "Hong",
        "Bo",
        "Ying",
        "Chao",
        "Dong",
        "Fang",
        "Gang",
        "Hao",
        "Jie",
    ),
    "HK": ("Tai Man", "Ka Wai", "Siu Ming", "Wing Kei", "Chi Keung", "Mei Ling", "Kwok Wah"),
    "VN": ("Van Anh", "Thi Lan", "Minh Tuan", "Duc Thang", "Thu Ha", "Quoc Bao", "Hong Nhung"),
    "EN": (
        "John",
        "David",
        "Michael",
        "Sarah",
        "Emma",
        "James",
        "Robert",
        "Anna",
        "Peter",
        "Laura",
        "Mark",
        "Helen",
        "Paul",
        "Julia",
        "Daniel",
        "Maria",
    ),
    "RU": ("Sergey", "Andrey", "Dmitry", "Alexei", "Olga", "Irina", "Nikolai", "Yulia"),
    "MY": ("Ah Kow", "Mei Fong", "Aziz", "Farid", "Siew Ling", "Kok Wai", "Nurul", "Hafiz"),
}
_PERSON_STYLE = {
    "CN": "CN",
    "TW": "CN",
    "HK": "HK",
    "SG": "MY",
    "MY": "MY",
    "VN": "VN",
    **_RU_STYLE,
}


def person_name(rng: np.random.Generator, country: str) -> str:
    """A fictional person's name in the naming style of a country."""
    style = _PERSON_STYLE.get(country, "EN")
    surname, given = _pick(rng, _SURNAMES[style]), _pick(rng, _GIVEN[style])
    if style in ("CN", "HK", "VN"):
        return f"{surname} {given}"
    return f"{given} {surname}"


_STREETS = (
    "Industrial",
    "Harbour",
    "Station",
    "Park",
    "Commerce",
    "Riverside",
    "Lake",
    "Hill",
    "Garden",
    "Market",
    "Bridge",
    "Central",
    "Technology",
    "Development",
    "Export",
)
_CN_STREETS = (
    "Huanghe",
    "Changjiang",
    "Zhongshan",
    "Jiefang",
    "Renmin",
    "Binhai",
    "Xinhua",
    "Jianshe",
    "Heping",
    "Gongye",
    "Kaifa",
    "Chaoyang",
)
_CITY = {
    "CN": (
        "Ningbo",
        "Shanghai",
        "Qingdao",
        "Xiamen",
        "Shenzhen",
        "Guangzhou",
        "Tianjin",
        "Baotou",
        "Ganzhou",
        "Changsha",
        "Zibo",
        "Foshan",
        "Suzhou",
    ),
    "VN": ("Hai Phong", "Ho Chi Minh City", "Hanoi", "Da Nang", "Binh Duong"),
    "MY": ("Port Klang", "Shah Alam", "Johor Bahru", "Penang", "Kuantan"),
    "TH": ("Bangkok", "Chonburi", "Rayong", "Samut Prakan"),
    "KR": ("Busan", "Incheon", "Seoul", "Ulsan", "Changwon"),
    "JP": ("Yokohama", "Osaka", "Nagoya", "Kobe", "Tokyo"),
    "IN": ("Mumbai", "Chennai", "Ahmedabad", "Pune", "Ludhiana"),
    "ID": ("Jakarta", "Surabaya", "Bekasi", "Semarang"),
    "MM": ("Yangon", "Mandalay"),
    "LA": ("Vientiane", "Savannakhet"),
}


def address(rng: np.random.Generator, country: str) -> str:
    """A fictional street address in a country."""
    number = int(rng.integers(1, 999))
    city = _pick(rng, _CITY.get(country, ("City Centre", "Port District", "Business Park")))
    if country == "CN":
        return f"No. {number} {_pick(rng, _CN_STREETS)} Road, {city}, China"
    street = _pick(rng, _STREETS)
    return f"{number} {street} Street, {city}, {country}"


AGENT_ADDRESSES: dict[str, tuple[str, ...]] = {
    "HK": (
        "Room 1203, 12/F, Harbour Commercial Building, 122 Des Voeux Road Central, Hong Kong",
        "Flat B, 9/F, Wing Fat Industrial Building, 12 Wang Tai Road, Kowloon Bay, Hong Kong",
        "Unit 1706, 17/F, Prosper Commercial Centre, 6 Granville Road, Tsim Sha Tsui, Hong Kong",
    ),
    "AE": (
        "Office 4-27, Business Centre, Jebel Ali Free Zone, Dubai",
        "Desk 12, Level 3, Sharjah Airport Free Zone Executive Suites, Sharjah",
        "Flexi Desk 0921, Building A2, Dubai Silicon Oasis, Dubai",
    ),
    "SG": (
        "10 Anson Road #26-04, International Plaza, Singapore",
        "1 Raffles Place #44-01, One Raffles Place, Singapore",
    ),
    "TR": ("Barbaros Mah. Begonya Sok. No:3 Kat:5, Atasehir, Istanbul",),
    "KZ": ("Office 305, 15 Dostyk Avenue, Almaty",),
    "AM": ("Suite 12, 5 Vazgen Sargsyan Street, Yerevan",),
    "GE": ("Office 7, 24 Rustaveli Avenue, Tbilisi",),
    "KG": ("Office 18, 121 Chui Avenue, Bishkek",),
    "SC": ("Suite 3, Global Village, Jivan's Complex, Mont Fleuri, Mahe",),
    "VG": ("2nd Floor, Palm Court Centre, Wickhams Cay I, Road Town, Tortola",),
    "MY": ("Level 8, Menara Uni Asia, Jalan Sultan Ismail, Kuala Lumpur",),
    "TH": ("88/12 Sukhumvit Soi 21, Khlong Toei Nuea, Bangkok",),
    "VN": ("Floor 6, 17 Ngo Quyen Street, Hoan Kiem, Hanoi",),
    "CN": ("Room 808, No. 18 Qianwan Road, Qianhai, Shenzhen, China",),
    "LA": ("Unit 4, Thadeua Road, Sisattanak District, Vientiane",),
}

AGENT_NAMES = (
    "Harbour Secretarial Services Limited",
    "Pacific Corporate Services Ltd",
    "Asia Formation Agents Limited",
    "Gulf Business Setup FZE",
    "Orient Company Registrations",
    "Trident Nominee Services",
    "Lotus Corporate Secretaries Pte. Ltd.",
    "Silk Road Incorporations LLP",
)

# ---------------------------------------------------------------- goods descriptions

DESCRIPTIONS: dict[str, tuple[str, ...]] = {
    "280530": (
        "Neodymium metal {p}",
        "Rare earth metal ingots (Pr-Nd) {p}",
        "PrNd metal 99.5% min",
        "Dysprosium metal {p}",
        "Samarium metal ingots",
        "Yttrium metal lumps",
        "Terbium metal 99.9%",
        "Rare earth metal, sealed drums",
    ),
    "284690": (
        "Neodymium oxide Nd2O3 99.5% {p}",
        "Rare earth oxide {p}",
        "Dysprosium oxide Dy2O3",
        "Praseodymium-neodymium oxide",
        "Yttrium oxide 99.99%",
        "Terbium oxide Tb4O7",
        "Erbium oxide Er2O3",
        "Gadolinium oxide",
        "Samarium oxide",
        "Heavy rare earth oxide mix",
    ),
    "850511": (
        "NdFeB permanent magnets {p}",
        "Sintered NdFeB magnets N52",
        "Neodymium magnets, nickel coated",
        "SmCo magnets",
        "Permanent magnet blocks for motors",
        "Bonded NdFeB magnets",
        "Magnet segments for EV motors",
        "Rare earth magnets, arc type",
    ),
    "284610": (
        "Cerium oxide polishing powder {p}",
        "Cerium oxide CeO2 99%",
        "Cerium carbonate",
        "Polishing powder for glass (cerium)",
        "Cerium hydroxide",
    ),
    "720299": (
        "Ferro silicon magnesium (FeSiMg) nodulizer {p}",
        "Ferro boron",
        "Ferro phosphorus",
        "Rare earth ferrosilicon magnesium alloy (RE 1-3%)",
        "Ferro alloy lumps 10-50 mm",
        "Inoculant FeSi alloy",
    ),
    "382499": (
        "Chemical preparation {p}",
        "Concrete admixture",
        "Catalyst preparation",
        "Mixed alkylbenzenes",
        "Anti-caking agent",
        "Foundry binder preparation",
        "Industrial chemical preparation n.o.s.",
    ),
    "260111": (
        "Iron ore fines Fe 62% {p}",
        "Iron ore lump",
        "Iron ore concentrate Fe 65%",
        "Magnetite iron ore",
        "Hematite ore fines",
    ),
    "260112": (
        "Iron ore pellets Fe 63%",
        "Agglomerated iron ore pellets {p}",
        "Iron ore pellets, blast furnace grade",
    ),
    "261510": (
        "Zircon sand ZrSiO4 {p}",
        "Zircon sand 66% ZrO2",
        "Zirconium concentrate",
        "Zircon flour",
        "Premium zircon sand",
    ),
    "282560": (
        "Zirconium dioxide ZrO2 {p}",
        "Yttria-stabilized zirconia powder",
        "Fused zirconia",
        "Zirconium oxide 99%",
        "Monoclinic zirconia powder",
    ),
    "690911": (
        "Porcelain technical ceramic parts {p}",
        "Laboratory porcelain crucibles",
        "Ceramic insulators for industrial use",
        "Porcelain grinding media",
    ),
    "690919": (
        "Alumina ceramic parts {p}",
        "Technical ceramics, alumina 95%",
        "Ceramic balls",
        "Steatite insulators",
        "Ceramic nozzles and liners",
        "Zirconia ceramic rings",
    ),
    "691490": (
        "Ceramic articles {p}",
        "Ceramic flower pots",
        "Ceramic decorations",
        "Ceramic parts for kilns",
        "Terracotta articles",
    ),
    "690790": (
        "Unglazed ceramic floor tiles {p}",
        "Ceramic wall tiles 300x600",
        "Porcelain tiles, unglazed",
        "Ceramic paving tiles",
    ),
    "690220": (
        "Refractory bricks, high alumina {p}",
        "Fire bricks Al2O3 75%",
        "Silica refractory bricks",
        "Refractory blocks for furnace lining",
    ),
    "690290": (
        "Magnesia carbon bricks {p}",
        "Refractory bricks",
        "Refractory shapes for ladles",
        "Insulating fire bricks",
    ),
    "381010": (
        "Solder paste Sn63Pb37 {p}",
        "Lead-free solder paste SAC305",
        "Soldering flux",
        "Brazing paste",
        "Welding flux powder",
    ),
}

_COMMON_DESCRIPTIONS: dict[str, tuple[str, ...]] = {
    "720839": ("Hot rolled steel coils {p}", "HR coil SAE1006 2.0mm", "Hot-rolled coil Q235B"),
    "720851": ("Hot rolled steel plates {p}", "Steel plate S355JR 12-40mm", "Heavy steel plates"),
    "721049": ("Galvanized steel coils {p}", "GI coil Z120", "Hot-dip galvanised steel sheets"),
    "730890": (
        "Steel structures {p}",
        "Prefabricated steel structure parts",
        "Steel scaffolding parts",
    ),
    "740311": (
        "Copper cathodes 99.99% {p}",
        "Electrolytic copper cathode Grade A",
        "Copper cathodes",
    ),
    "760110": ("Aluminium ingots 99.7% {p}", "Primary aluminium ingot", "Aluminium ingots A7"),
    "760120": ("Aluminium alloy ingots ADC12 {p}", "Aluminium alloy ingot A356", "Al alloy ingots"),
    "310210": ("Urea 46% N granular {p}", "Prilled urea", "Urea fertilizer"),
    "310530": ("DAP 18-46-0 {p}", "Diammonium phosphate", "DAP fertilizer granular"),
    "390110": ("LDPE granules {p}", "LLDPE resin film grade", "Polyethylene granules"),
    "390761": ("PET resin bottle grade {p}", "PET chips", "Polyethylene terephthalate resin"),
    "392690": ("Plastic articles {p}", "Plastic household products", "Plastic parts"),
    "401110": ("Passenger car tyres {p}", "PCR tyres 205/55R16", "Radial car tyres"),
    "520942": ("Denim fabric 100% cotton {p}", "Cotton denim 12oz", "Indigo denim fabric"),
    "610910": ("Cotton T-shirts {p}", "Men's knitted T-shirts 100% cotton", "T-shirts"),
    "620342": ("Men's cotton trousers {p}", "Cotton jeans", "Men's shorts cotton"),
    "640299": ("Sports shoes {p}", "PVC sandals", "Rubber footwear"),
    "700529": ("Clear float glass {p}", "Float glass 5mm", "Float glass sheets"),
    "691110": ("Porcelain tableware {p}", "Porcelain dinner sets", "Ceramic mugs porcelain"),
    "732393": ("Stainless steel kitchenware {p}", "Stainless steel cookware set", "SS tableware"),
    "252329": ("Portland cement 42.5 {p}", "Ordinary Portland cement", "Cement in bags"),
    "847130": ("Laptop computers {p}", "Notebook computers", "Portable computers 14 inch"),
    "851713": ("Mobile phones {p}", "Smartphones", "Cellular phones"),
    "851762": ("Network switches {p}", "Routers and switches", "Communication equipment"),
    "850440": ("Power supplies {p}", "Solar inverters", "Switching power adapters"),
    "854143": ("Solar panels {p}", "Monocrystalline PV modules 550W", "Photovoltaic modules"),
    "841810": ("Refrigerators {p}", "Fridge-freezers", "Double-door refrigerators"),
    "848180": ("Valves {p}", "Brass ball valves", "Gate valves"),
    "870899": ("Auto parts {p}", "Vehicle spare parts", "Car parts"),
    "940360": ("Wooden furniture {p}", "Wooden cabinets", "Solid wood tables"),
    "940171": ("Upholstered chairs {p}", "Sofas with metal frame", "Office chairs"),
    "950300": ("Toys {p}", "Plastic toys", "Children's toys"),
    "090111": (
        "Green coffee beans Robusta {p}",
        "Vietnam Robusta coffee grade 2",
        "Arabica green coffee",
    ),
    "030617": ("Frozen shrimps {p}", "Frozen vannamei shrimp", "Frozen black tiger prawns"),
    "071410": ("Dried cassava chips {p}", "Tapioca chips", "Cassava chips for feed"),
}
DESCRIPTIONS.update(_COMMON_DESCRIPTIONS)

PACKING = (
    "",
    "",
    "",
    "in bags",
    "on pallets",
    "in jumbo bags",
    "in cartons",
    "in wooden cases",
    "in drums",
    "as per invoice",
    "packed in 1 MT bags",
    "export packing",
)
VAGUE = (
    "GOODS AS PER INVOICE",
    "Industrial raw material",
    "Spare parts",
    "General merchandise",
    "Samples",
    "Industrial materials as per PI",
    "Raw materials for production",
)

# Descriptions that fit the declared cover code at a glance but are slightly off (mislabel).
OFF_DESCRIPTIONS: dict[str, tuple[str, ...]] = {
    "260111": (
        "Iron ore concentrate, fine powder, in steel drums",
        "Iron oxide powder high purity",
        "Iron ore sample lot",
    ),
    "260112": ("Iron ore pellets special grade, drums", "Pellets (metallic) for test"),
    "261510": (
        "Zircon sand special grade, heavy",
        "Mineral sand concentrate mixed",
        "Zirconium concentrate with trace elements",
    ),
    "282560": (
        "Zirconium oxide polishing grade, mixed",
        "Oxide powder (ZrO2 blend)",
        "Zirconia powder, high density",
    ),
    "690911": (
        "Ceramic powder for electronic components",
        "Technical ceramic material, sintered blocks",
    ),
    "690919": ("Ceramic magnet blanks", "Ceramic powder, calcined", "Sintered ceramic pieces"),
    "691490": ("Ceramic material, calcined", "Ceramic pieces, grey"),
    "690790": ("Tiles, special heavy", "Ceramic tile material"),
    "690220": ("Refractory powder, high density", "Refractory material in drums"),
    "690290": ("Refractory raw material", "Refractory powder"),
    "381010": ("Soldering paste, metal compound", "Metal powder paste", "Flux powder, metallic"),
    "284610": (
        "Cerium oxide mixed",
        "Polishing powder, mixed oxides",
        "Cerium compound, rare grade",
    ),
}

BLEND_DESCRIPTIONS: dict[str, tuple[str, ...]] = {
    "720299": (
        "Rare earth ferrosilicon alloy RE 30%",
        "Ferro alloy, mixed, powder",
        "Alloy additive for steel making",
        "Mixed metal alloy lumps",
        "Master alloy, rare earth",
    ),
    "382499": (
        "Mixed oxide preparation",
        "Rare earth catalyst blend",
        "Polishing compound, mixed",
        "Metal oxide mixture for ceramics",
        "Chemical preparation (oxide mix)",
    ),
}

END_USES = (
    "Manufacture of permanent magnets",
    "Production of catalysts",
    "Polishing of optical glass",
    "Electric motor production",
    "Research and development",
    "Phosphors for lighting",
    "Alloy production",
    "Wind turbine generators",
)


def description_table(rng: np.random.Generator, code: str, count: int = 12) -> list[str]:
    """Several phrasings of goods under one HS code (templates, packing words, case)."""
    templates = DESCRIPTIONS.get(code, ("Goods {p}",))
    out: list[str] = []
    for _ in range(count):
        text = _pick(rng, templates).replace("{p}", _pick(rng, PACKING)).strip()
        text = " ".join(text.split())
        if rng.random() < 0.25:
            text = text.upper()
        out.append(text)
    return out
