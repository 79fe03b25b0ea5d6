"""Catalogue, places and names of the ``foreign`` synthetic world (see :mod:`synth.foreign`).

An export administration of its own: national 8- and 10-digit tariff lines, its own prices
(USD/kg), packed densities and packing habits, its own ports and hubs, and company names in
the spellings its clerks, registry, licensing office and the sanctions lists use. Everything is
fictional; figures are plausible orders of magnitude, not statistics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Line:
    """One national tariff line as this administration's traders use it."""

    code: str  # national code, 8 or 10 digits, leading zeros kept
    sector: str
    role: str  # trade | controlled | cover | late_cover | conceal | blend | open_re | metal
    price: float  # median declared USD per kg of net mass
    density: float  # packed cargo density, t/m3 (gross mass / declared cargo volume)
    kg_per_pkg: float  # net kg per package (bag, drum, carton, pallet, crate, head...)
    lot_kg: float  # median net kg of one declaration
    tare: float  # (gross - net) / net
    unit: str  # quantity unit written on the declaration
    kg_per_unit: float  # net kg per unit of quantity (1 for kg)
    words: tuple[str, ...]  # goods descriptions as declared


def _l(code, sector, role, price, density, kg_pkg, lot, tare, unit, kpu, *words) -> Line:
    return Line(code, sector, role, price, density, kg_pkg, lot, tare, unit, kpu, tuple(words))


# fmt: off
LINES: tuple[Line, ...] = (
    # ---- live animals and food (chapters 01-22; several with leading zeros)
    _l("0101210000", "agri", "trade", 6.5, 0.25, 450, 4500, 0.15, "u", 450,
       "PUREBRED BREEDING HORSES", "Ngua giong thuan chung", "live horses, pure-bred, for breeding"),
    _l("01022990", "agri", "trade", 2.7, 0.22, 420, 16000, 0.1, "u", 420,
       "Live cattle", "BO THIT SONG", "live bovine animals for slaughter"),
    _l("03046200", "agri", "trade", 2.6, 0.62, 10, 21000, 0.08, "kg", 1,
       "FROZEN PANGASIUS FILLETS", "Ca tra phi le dong lanh", "pangasius fillet IQF, 10kg/ctn"),
    _l("04090000", "agri", "trade", 3.1, 1.05, 290, 20000, 0.06, "kg", 1,
       "NATURAL HONEY", "Mat ong tu nhien", "honey in steel drums"),
    _l("08013200", "agri", "trade", 7.2, 0.55, 22.68, 15800, 0.05, "kg", 1,
       "CASHEW KERNELS WW320", "Hat dieu nhan da boc vo", "cashew nuts shelled W240, 50 lbs/ctn"),
    _l("09041120", "agri", "trade", 3.9, 0.52, 50, 18000, 0.02, "kg", 1,
       "BLACK PEPPER 500G/L", "Ho tieu den", "black pepper unground ASTA"),
    _l("09011190", "agri", "trade", 2.3, 0.62, 60, 19200, 0.01, "kg", 1,
       "ROBUSTA COFFEE BEANS SCR16", "Ca phe nhan Robusta", "green coffee, not roasted"),
    _l("10063099", "agri", "trade", 0.55, 0.78, 50, 25000, 0.01, "kg", 1,
       "JASMINE RICE 5% BROKEN", "Gao trang", "white rice long grain"),
    _l("16041419", "agri", "trade", 5.4, 0.72, 18, 16000, 0.12, "kg", 1,
       "CANNED TUNA IN OIL", "Ca ngu dong hop", "tuna chunks in brine 185g x 48"),
    _l("17011400", "agri", "trade", 0.5, 0.82, 50, 24000, 0.01, "kg", 1,
       "RAW CANE SUGAR", "Duong mia tho", "cane sugar ICUMSA 600"),
    _l("22030091", "agri", "trade", 0.9, 0.72, 8.6, 19000, 0.35, "l", 1.03,
       "BEER 330ML CANS", "Bia lon", "lager beer 24x330ml"),
    # ---- wood, paper, rubber, plastics, textiles, consumer goods
    _l("40012290", "wood", "trade", 1.6, 0.66, 33.33, 20000, 0.03, "kg", 1,
       "NATURAL RUBBER SVR 10", "Cao su tu nhien", "TSR rubber bales 33.33kg"),
    _l("44013100", "wood", "trade", 0.16, 0.66, 1000, 24000, 0.01, "kg", 1,
       "WOOD PELLETS", "Vien nen go", "wood pellets in jumbo bags"),
    _l("44123100", "wood", "trade", 0.55, 0.56, 1150, 22000, 0.04, "m3", 550,
       "PLYWOOD 18MM", "Van ep", "plywood tropical hardwood face"),
    _l("94035000", "wood", "trade", 3.1, 0.17, 38, 6500, 0.12, "u", 38,
       "WOODEN BEDROOM FURNITURE", "Giuong go", "wooden wardrobe knock-down"),
    _l("48025590", "wood", "trade", 0.9, 0.82, 480, 22000, 0.02, "kg", 1,
       "WRITING PAPER ROLLS 70GSM", "Giay viet", "uncoated paper in reels"),
    _l("39232119", "wood", "trade", 1.7, 0.36, 20, 12000, 0.05, "kg", 1,
       "PE BAGS", "Tui nhua PE", "polyethylene carrier bags"),
    _l("52081200", "textile", "trade", 5.4, 0.46, 60, 9000, 0.05, "m", 0.14,
       "COTTON WOVEN FABRIC", "Vai cotton", "plain weave cotton fabric, unbleached"),
    _l("55095300", "textile", "trade", 2.6, 0.41, 25, 14000, 0.04, "kg", 1,
       "POLYESTER/COTTON YARN", "Soi pha", "yarn of polyester staple mixed with cotton"),
    _l("62034290", "textile", "trade", 14.0, 0.24, 12, 4200, 0.1, "u", 0.45,
       "MEN'S COTTON TROUSERS", "Quan dai nam", "trousers of cotton, woven"),
    _l("64041190", "textile", "trade", 17.0, 0.2, 10, 5200, 0.14, "pr", 0.9,
       "SPORTS SHOES", "Giay the thao", "training shoes, textile uppers"),
    _l("95030099", "textile", "trade", 7.0, 0.15, 8, 3000, 0.15, "u", 0.6,
       "PLASTIC TOYS", "Do choi", "toys assorted"),
    # ---- electronics (chapter 85 and 90)
    _l("8517130000", "electro", "trade", 160.0, 0.22, 9, 900, 0.18, "u", 0.42,
       "SMARTPHONES", "Dien thoai di dong", "mobile phones 5G with accessories"),
    _l("85444929", "electro", "trade", 5.8, 0.7, 120, 8000, 0.12, "m", 0.12,
       "INSULATED COPPER CABLE", "Day cap dien", "electric cable PVC insulated"),
    _l("90138090", "electro", "trade", 40.0, 0.3, 14, 1800, 0.16, "u", 0.6,
       "LCD MODULES", "Man hinh LCD", "liquid crystal devices"),
    # ---- industrial minerals: cheap and dense, the natural covers
    _l("26140010", "minerals", "cover", 0.32, 2.4, 1250, 24000, 0.005, "t", 1000,
       "ILMENITE CONCENTRATE", "Quang ilmenit", "ilmenite sand TiO2 52% min"),
    _l("25111000", "minerals", "cover", 0.16, 2.5, 1000, 25000, 0.005, "t", 1000,
       "NATURAL BARIUM SULPHATE (BARITE)", "Quang barit", "barite lumps API grade 4.2"),
    _l("26020000", "minerals", "cover", 0.21, 2.2, 1000, 25000, 0.005, "t", 1000,
       "MANGANESE ORE", "Quang mangan", "manganese ore Mn 38%"),
    _l("26100000", "minerals", "cover", 0.26, 2.6, 1000, 25000, 0.005, "t", 1000,
       "CHROMIUM ORE", "Quang cromit", "chromite sand Cr2O3 46%"),
    _l("25070000", "minerals", "cover", 0.12, 0.95, 1000, 22000, 0.005, "kg", 1,
       "KAOLIN CLAY", "Cao lanh", "kaolin washed, for ceramics"),
    _l("72051000", "minerals", "cover", 0.8, 4.4, 1000, 24000, 0.01, "kg", 1,
       "STEEL SHOT S330", "Bi thep", "granules of iron or steel, blast shot"),
    _l("25051000", "minerals", "trade", 0.05, 1.6, 1000, 25000, 0.005, "t", 1000,
       "SILICA SAND", "Cat thach anh", "quartz sand washed"),
    _l("25081000", "minerals", "late_cover", 0.1, 0.92, 1000, 22000, 0.005, "kg", 1,
       "BENTONITE", "Bentonit", "bentonite powder drilling grade"),
    _l("25292100", "minerals", "late_cover", 0.09, 1.5, 1000, 24000, 0.005, "t", 1000,
       "FELDSPAR", "Tran thach", "potash feldspar lumps"),
    _l("26209990", "minerals", "late_cover", 0.4, 1.8, 1000, 22000, 0.01, "kg", 1,
       "METAL-BEARING SLAG", "Xi kim loai", "tin slag containing metals"),
    # ---- ceramics, stone, glass, steel articles: the concealment covers
    _l("69072193", "ceramics", "conceal", 0.36, 1.95, 1100, 22000, 0.05, "m2", 21,
       "GLAZED PORCELAIN TILES 60X60", "Gach op lat men", "ceramic floor tiles glazed"),
    _l("68029390", "ceramics", "conceal", 0.45, 2.4, 1800, 24000, 0.06, "m2", 55,
       "POLISHED GRANITE SLABS", "Da granite mai bong", "granite slabs 2cm polished"),
    _l("69041000", "ceramics", "conceal", 0.08, 1.6, 1200, 24000, 0.03, "u", 2.4,
       "BUILDING BRICKS", "Gach xay", "fired clay bricks"),
    _l("70161000", "ceramics", "conceal", 1.2, 1.3, 600, 12000, 0.07, "kg", 1,
       "GLASS MOSAIC CUBES", "Khoi thuy tinh", "glass mosaic tiles on mesh"),
    _l("73269099", "ceramics", "conceal", 1.3, 2.2, 900, 18000, 0.05, "kg", 1,
       "STEEL GRINDING BALLS", "Bi nghien thep", "forged steel balls 60mm"),
    _l("69101000", "ceramics", "conceal", 1.1, 0.34, 25, 7000, 0.2, "u", 22,
       "PORCELAIN SANITARY WARE", "Thiet bi ve sinh su", "ceramic washbasins and toilets"),
    # ---- base metals and chemicals
    _l("79011100", "metals", "metal", 2.9, 3.5, 1000, 24000, 0.005, "kg", 1,
       "ZINC INGOTS SHG 99.995%", "Kem thoi", "unwrought zinc, not alloyed"),
    _l("80011000", "metals", "metal", 30.0, 4.0, 1000, 8000, 0.005, "kg", 1,
       "TIN INGOTS 99.9%", "Thiec thoi", "unwrought tin, not alloyed"),
    _l("81019400", "metals", "metal", 45.0, 4.8, 250, 3000, 0.04, "kg", 1,
       "UNWROUGHT TUNGSTEN", "Vonfram chua gia cong", "tungsten powder/bars"),
    _l("26110000", "metals", "metal", 12.0, 2.6, 1000, 15000, 0.01, "kg", 1,
       "TUNGSTEN ORE CONCENTRATE", "Quang vonfram", "wolframite concentrate WO3 65%"),
    _l("81101000", "metals", "metal", 14.0, 3.4, 1000, 10000, 0.01, "kg", 1,
       "ANTIMONY INGOTS", "Antimon thoi", "unwrought antimony"),
    _l("72172010", "metals", "trade", 0.9, 2.5, 500, 22000, 0.02, "kg", 1,
       "GALVANISED STEEL WIRE", "Day thep ma kem", "wire of iron, zinc plated"),
    _l("28230000", "chem", "trade", 2.5, 0.8, 25, 20000, 0.02, "kg", 1,
       "TITANIUM DIOXIDE", "Titan dioxit", "titanium oxides anatase"),
    _l("32061190", "chem", "trade", 2.8, 0.72, 25, 18000, 0.02, "kg", 1,
       "TIO2 PIGMENT RUTILE", "Bot mau TiO2", "pigment based on titanium dioxide"),
    _l("2846100000", "chem", "open_re", 2.1, 1.3, 50, 8000, 0.05, "kg", 1,
       "CERIUM OXIDE POLISHING POWDER", "Xeri oxit", "cerium compounds CeO2 99%"),
    # ---- alloys and preparations: where blended material is declared
    _l("72029990", "metals", "blend", 1.7, 2.8, 1000, 20000, 0.01, "kg", 1,
       "FERRO-ALLOY FESI75", "Hop kim fero", "ferro-alloys n.e.s., lumps 10-50mm"),
    _l("38249990", "chem", "blend", 2.4, 1.0, 200, 10000, 0.05, "kg", 1,
       "CHEMICAL PREPARATION", "Che pham hoa hoc", "preparation for industrial use n.e.s."),
    _l("76012090", "metals", "blend", 2.6, 1.6, 1000, 20000, 0.01, "kg", 1,
       "ALUMINIUM ALLOY INGOTS ADC12", "Nhom hop kim thoi", "unwrought aluminium alloys"),
    _l("81041900", "metals", "blend", 3.2, 1.0, 1000, 15000, 0.01, "kg", 1,
       "MAGNESIUM ALLOY INGOTS AZ91", "Hop kim magie", "unwrought magnesium alloys"),
    # ---- controlled rare earths: national subdivisions of 2805.30, 2846.90 and 8505.11
    _l("28053010", "rare", "controlled", 78.0, 3.8, 250, 2500, 0.06, "kg", 1,
       "NEODYMIUM METAL INGOTS 99.5%", "Kim loai neodym", "rare-earth metal Nd, in argon-sealed drums"),
    _l("28053090", "rare", "controlled", 380.0, 4.0, 100, 600, 0.08, "kg", 1,
       "DYSPROSIUM/TERBIUM METAL", "Kim loai dat hiem khac", "rare-earth metals Dy Tb, scandium, yttrium"),
    _l("28469010", "rare", "controlled", 58.0, 2.1, 50, 4000, 0.05, "kg", 1,
       "NEODYMIUM OXIDE ND2O3 99%", "Oxit neodym", "rare earth oxide Nd2O3 powder"),
    _l("28469020", "rare", "controlled", 270.0, 2.2, 25, 800, 0.06, "kg", 1,
       "DYSPROSIUM OXIDE DY2O3 99.5%", "Oxit dysprosi", "rare earth oxide Dy2O3"),
    _l("28469030", "rare", "controlled", 820.0, 2.2, 25, 300, 0.06, "kg", 1,
       "TERBIUM OXIDE TB4O7", "Oxit terbi", "rare earth oxide Tb4O7 99.99%"),
    _l("2846909000", "rare", "controlled", 38.0, 2.0, 50, 3000, 0.05, "kg", 1,
       "MIXED RARE EARTH CARBONATE", "Hop chat dat hiem", "compounds of rare-earth metals n.e.s."),
    _l("8505110010", "rare", "controlled", 52.0, 3.4, 25, 2500, 0.1, "u", 0.02,
       "NDFEB PERMANENT MAGNETS N42", "Nam cham vinh cuu NdFeB", "sintered neodymium magnets, nickel coated"),
    _l("8505110090", "rare", "controlled", 115.0, 3.4, 20, 800, 0.1, "u", 0.01,
       "SMCO PERMANENT MAGNETS", "Nam cham SmCo", "samarium cobalt magnets"),
)
# fmt: on

CODES = np.array([ln.code for ln in LINES], dtype=object)
ROLE = np.array([ln.role for ln in LINES], dtype=object)
SECTOR = np.array([ln.sector for ln in LINES], dtype=object)
PRICE = np.array([ln.price for ln in LINES])
DENSITY = np.array([ln.density for ln in LINES])
KG_PER_PKG = np.array([ln.kg_per_pkg for ln in LINES])
LOT_KG = np.array([ln.lot_kg for ln in LINES])
TARE = np.array([ln.tare for ln in LINES])
UNIT = np.array([ln.unit for ln in LINES], dtype=object)
KG_PER_UNIT = np.array([ln.kg_per_unit for ln in LINES])
INDEX = {ln.code: i for i, ln in enumerate(LINES)}


def by_role(*roles: str) -> np.ndarray:
    return np.flatnonzero(np.isin(ROLE, roles))


# Descriptions, flattened: row i of line c uses WORDS[WORD_START[c] + k % WORD_COUNT[c]].
WORD_COUNT = np.array([len(ln.words) for ln in LINES])
WORD_START = np.concatenate([[0], np.cumsum(WORD_COUNT)[:-1]])
WORDS = np.array([w for ln in LINES for w in ln.words], dtype=object)

# what blended material is declared as, per blend line
BLEND_WORDS = {
    "72029990": ("FERRO-SILICON RARE EARTH ALLOY", "mischmetal ferro alloy", "RE-FeSi inoculant alloy"),
    "38249990": ("MIXED OXIDE PREPARATION", "polishing compound, mixed", "catalyst preparation RE"),
    "76012090": ("AL-SC MASTER ALLOY AlSc2", "aluminium master alloy, mixed", "Al alloy with additives"),
    "81041900": ("MG-RE MASTER ALLOY", "magnesium alloy mixed rare earth", "Mg-Nd alloy ingots"),
}

# ================================================================= places

ADMIN_COUNTRY = "VN"
SEA_LOADING = {"VNHPH": 0.36, "VNSGN": 0.22, "VNCMT": 0.24, "VNDAD": 0.08, "VNVUT": 0.1}
AIR_LOADING = ("VNHAN", "VNSGN")
ROAD_LANES = {
    "CN": ("VNHAN", "CNPXG"),
    "LA": ("VNDAD", "LAVTE"),
    "KH": ("VNSGN", "KHPNH"),
    "TH": ("VNDAD", "THBKK"),
}
RAIL_LANES = {"CN": ("VNHAN", "CNNNG"), "KZ": ("VNHAN", "KZALA"), "RU": ("VNHAN", "RUMOW")}

DISCHARGE = {
    "CN": ("CNSHA", "CNTAO", "CNTSN", "CNSZX"),
    "US": ("USLGB", "USNYC", "USSAV"),
    "JP": ("JPTYO", "JPYOK", "JPOSA"),
    "KR": ("KRPUS", "KRINC"),
    "DE": ("DEHAM", "DEBRV"),
    "NL": ("NLRTM",),
    "PL": ("PLGDN", "PLGDY"),
    "RU": ("RUVVO", "RULED", "RUNVS"),
    "TR": ("TRMER", "TRIST"),
    "IN": ("INNSA", "INMUN", "INMAA"),
    "AE": ("AEJEA", "AEDXB"),
    "TH": ("THLCH",),
    "MY": ("MYPKG", "MYTPP"),
    "SG": ("SGSIN",),
    "HK": ("HKHKG",),
    "TW": ("TWKHH", "TWTXG"),
    "IT": ("ITGOA", "ITSPE"),
    "FR": ("FRLEH", "FRFOS"),
    "GB": ("GBFXT", "GBLGP"),
    "AU": ("AUSYD", "AUMEL"),
    "CA": ("CAVAN", "CAMTR"),
    "KZ": ("KZALA",),
    "GE": ("GEPTI", "GEBUS"),
    "AZ": ("AZBAK",),
    "LA": ("LAVTE",),
    "KH": ("KHPNH",),
}
BUYER_COUNTRIES = {
    "CN": 17,
    "US": 14,
    "JP": 8,
    "KR": 7,
    "DE": 5,
    "NL": 4,
    "PL": 3,
    "RU": 4,
    "TR": 4,
    "IN": 5,
    "AE": 3,
    "TH": 3,
    "MY": 3,
    "SG": 2,
    "HK": 3,
    "TW": 3,
    "IT": 2,
    "FR": 2,
    "GB": 2,
    "AU": 3,
    "CA": 2,
    "KZ": 1,
    "LA": 1,
    "KH": 1,
}
RE_BUYER_COUNTRIES = {"JP": 5, "KR": 4, "DE": 3, "US": 4, "PL": 1, "IN": 2, "TW": 2, "FR": 1, "NL": 1}
SHELL_COUNTRIES = {"AE": 4, "HK": 4, "TR": 3, "GE": 2, "KZ": 2, "AZ": 1, "SG": 1, "MY": 1}
SANCTIONED_DEST = {"RU": 4, "IR": 1, "BY": 1}
# ordinary transshipment: the big hubs everyone uses
LEGIT_HUBS = ("SGSIN", "MYPKG", "HKHKG", "KRPUS", "TWKHH", "LKCMB", "MYTPP")
# laundering hubs: known early, and NEW ones that appear only in the last weeks (drift)
LAUNDER_EARLY = ("THLCH", "KHKOS", "AEKLF", "OMSOH", "PKBQM", "DJJIB", "GRPIR")
LAUNDER_NEW = ("CYLMS", "MTMAR", "ALDRZ", "GEBUS", "TZDAR", "MEBAR")
# declared origins that hide where the goods really come from
LAUNDER_ORIGINS = {"KH": 3, "TH": 2, "PH": 1, "LK": 1, "MY": 2, "SG": 1}
RE_ORIGINS = {"CN": 6, "MM": 3, "LA": 1}
REEXPORT_ORIGINS = {"CN": 5, "LA": 2, "KH": 1, "MM": 1}

# ================================================================= names

_VN_CORES = (
    "Minh Phat",
    "Hoang Long",
    "Thanh Dat",
    "Phu Gia",
    "An Khang",
    "Tan Thanh",
    "Viet Hung",
    "Dai Phong",
    "Hai Nam",
    "Kim Son",
    "Bao Tin",
    "Phuc Loc",
    "Truong Giang",
    "Song Hong",
    "Dong A",
    "Nam Viet",
    "Sao Mai",
    "Thien An",
    "Hung Thinh",
    "Quang Minh",
    "Lam Son",
    "Ngoc Thach",
    "Tien Phong",
    "Hoa Binh",
    "Vinh Phat",
    "Duc Tai",
    "Gia Huy",
    "Tay Bac",
    "Hong Ha",
    "Lac Viet",
    "Mekong Star",
    "Cuu Long",
    "Ben Thanh",
    "Son Tra",
    "Nhat Tan",
)
_VN_TRADES = ("Thuong Mai", "Xuat Nhap Khau", "San Xuat", "Khoang San", "Cong Nghiep", "Dau Tu")
_VN_TRADES_EN = {
    "Thuong Mai": "Trading",
    "Xuat Nhap Khau": "Import Export",
    "San Xuat": "Manufacturing",
    "Khoang San": "Minerals",
    "Cong Nghiep": "Industrial",
    "Dau Tu": "Investment",
}
# country: (latin cores, local-script cores or None, legal forms as registered / as written)
_FOREIGN = {
    "PL": (
        ("Polmetal", "Baltkrusz", "Wistral", "Gdanmet", "Silesia Magnet"),
        None,
        (("Sp. z o.o.", ("Sp z oo", "SP. Z O.O.", "sp.z o.o.", "Spolka z o.o.")),),
    ),
    "RU": (
        ("Stroymet", "Uralresurs", "Sibmagnit", "Dalnevostok Trade", "Volgahim"),
        ("Строймет", "Уралресурс", "Сибмагнит", "Дальвосток Трейд", "Волгахим"),
        (("OOO", ("LLC", "ООО", "O.O.O.", "Limited Liability Company")),),
    ),
    "KZ": (
        ("Kazmetalls", "Steppe Resource", "Altyn Tas"),
        ("Казметаллс", "Степь Ресурс", "Алтын Тас"),
        (("TOO", ("LLP", "ТОО", "T.O.O.")),),
    ),
    "TR": (
        ("Anadolu Maden", "Ege Seramik", "Marmara Kimya", "Boğaziçi Metal", "Toros Dış Ticaret"),
        None,
        (
            ("A.Ş.", ("AS", "A.S.", "Anonim Şirketi", "ANONIM SIRKETI")),
            ("Ltd. Şti.", ("Ltd Sti", "LTD. STI.", "Limited Şirketi")),
        ),
    ),
    "DE": (
        ("Nordmagnet", "Rheinstahl Handel", "Elbtec", "Kessler Werkstoffe", "Hansa Rohstoffe"),
        None,
        (("GmbH", ("GMBH", "Gmbh", "G.m.b.H.")), ("GmbH & Co. KG", ("GmbH & Co KG", "GMBH & CO. KG"))),
    ),
    "CN": (
        (
            "Jinhua Xitu",
            "Baotou Huaxin",
            "Ganzhou Ruida",
            "Xiamen Tongfa",
            "Shandong Lianyi",
            "Guangxi Nanfeng",
        ),
        ("金华稀土", "包头华鑫", "赣州瑞达", "厦门通发", "山东联义", "广西南丰"),
        (("Co., Ltd", ("Co. Ltd.", "CO.,LTD", "Youxian Gongsi", "Company Limited", "有限公司")),),
    ),
    "HK": (
        ("Pacific Bridge", "Harbour Rise", "Golden Crane", "Victoria Link"),
        None,
        (("Limited", ("Ltd", "LTD.", "Co., Limited")),),
    ),
    "JP": (
        ("Sanwa Jisho", "Kitamura Kinzoku", "Tokai Magnetics", "Hokuriku Seiko"),
        None,
        (("Kabushiki Kaisha", ("K.K.", "Co., Ltd.", "KK", "Corporation")),),
    ),
    "KR": (
        ("Hanil Materials", "Daesung Metal", "Seoul Magtech", "Busan Mineral"),
        None,
        (("Co., Ltd", ("Co Ltd", "CO., LTD.", "Chusik Hoesa", "Corp.")),),
    ),
    "AE": (
        ("Al Noor General Trading", "Gulf Horizon", "Desert Falcon", "Crescent Metals"),
        None,
        (("FZE", ("F.Z.E.", "FZ LLC", "Free Zone Establishment")), ("L.L.C", ("LLC", "L.L.C.", "Co. LLC"))),
    ),
    "US": (
        ("Great Lakes Magnetics", "Atlas Alloys", "Pioneer Materials", "Summit Components"),
        None,
        (("Inc.", ("Inc", "INC.", "Incorporated")), ("LLC", ("L.L.C.", "Llc"))),
    ),
    "IN": (
        ("Shree Balaji Metals", "Vardhman Minerals", "Kaveri Magnets", "Gujarat Alloys"),
        None,
        (("Pvt. Ltd.", ("Private Limited", "PVT LTD", "Pvt Ltd")),),
    ),
    "NL": (
        ("Maasvlakte Metals", "Oranje Trading"),
        None,
        (("B.V.", ("BV", "B.V", "Besloten Vennootschap")),),
    ),
    "IT": (("Metalli Liguria", "Ceramiche Emilia"), None, (("S.r.l.", ("SRL", "S.R.L.", "Srl")),)),
    "FR": (
        ("Alliages du Nord", "Minerais Atlantique"),
        None,
        (("SAS", ("S.A.S.", "Sas")), ("SARL", ("S.A.R.L.",))),
    ),
    "GE": (("Kolkheti Trade", "Batumi Logistics"), None, (("LLC", ("Ltd", "შპს")),)),
    "AZ": (("Caspian Resurs", "Absheron Ticaret"), None, (("MMC", ("LLC", "M.M.C.")),)),
    "SG": (
        ("Straits Metals", "Lion Gate Trading"),
        None,
        (("Pte. Ltd.", ("Pte Ltd", "PTE. LTD", "Private Limited")),),
    ),
    "MY": (("Borneo Mineral", "Klang Resources"), None, (("Sdn. Bhd.", ("Sdn Bhd", "SDN. BHD.", "S/B")),)),
    "TW": (("Formosa Magtech", "Kaohsiung Alloy"), None, (("Co., Ltd.", ("Co Ltd", "CO., LTD")),)),
    "TH": (("Siam Minerals", "Chao Phraya Trading"), None, (("Co., Ltd.", ("Company Limited", "CO LTD")),)),
    "GB": (("Thames Alloys", "Pennine Materials"), None, (("Ltd", ("Limited", "LTD.")),)),
    "AU": (("Southern Cross Minerals", "Pilbara Trading"), None, (("Pty Ltd", ("Pty. Ltd.", "PTY LTD")),)),
    "CA": (("Maple Metals", "Laurentian Resources"), None, (("Inc.", ("Inc", "Corp.")),)),
    "LA": (("Lao Phatthana", "Mekong Lao Trading"), None, (("Sole Co., Ltd", ("Co., Ltd", "Sole Co Ltd")),)),
    "KH": (("Angkor Resources", "Tonle Trading"), None, (("Co., Ltd.", ("Co Ltd", "CO., LTD")),)),
    "MM": (("Shwe Mandalay", "Irrawaddy Mining"), None, (("Co., Ltd.", ("Company Limited", "Co Ltd")),)),
}
_GENERIC_WORDS = ("Trading", "Resources", "Materials", "International", "Industries", "Holdings", "Group")


def _strip(text: str) -> str:
    return text.replace(".", "").replace(",", "")


def company_names(
    rng: np.random.Generator, country: str, n: int, cores: tuple[str, ...] | None = None
) -> list[tuple[str, list[str], str]]:
    """``n`` companies of ``country``: (registered name, spellings on documents, licence spelling).

    The registry holds the legal name; declarations use any of the spellings (abbreviated legal
    form, upper case, punctuation dropped, transliterated); the licensing office writes its own.
    ``cores``: the words to name them by (default: the country's usual ones).
    """
    out = []
    for k in range(n):
        if country == "VN":
            core = (cores or _VN_CORES)[rng.integers(len(cores or _VN_CORES))]
            if cores is None and rng.random() < 0.5:
                core = f"{core} {_VN_CORES[rng.integers(len(_VN_CORES))].split()[0]}"
            trade = _VN_TRADES[rng.integers(len(_VN_TRADES))]
            en = _VN_TRADES_EN[trade]
            legal = f"Cong ty TNHH {trade} {core}"
            spellings = [
                legal,
                f"CONG TY TNHH {trade.upper()} {core.upper()}",
                f"CTY TNHH {''.join(w[0] for w in trade.split()).upper()} {core}",
                f"{core.upper()} {en.upper()} CO., LTD",
                f"{core} {en} Company Limited",
                f"{core.replace(' ', '')} {en} Co Ltd",
            ]
            licence = f"{core} {en} Co., Ltd."
        else:
            latin, local, forms = _FOREIGN.get(country, (_GENERIC_WORDS, None, (("Ltd", ("Limited",)),)))
            if cores is not None:
                latin, local = cores, None
            j = int(rng.integers(len(latin)))
            base = latin[j]
            if rng.random() < 0.6 or k >= len(latin):
                base = f"{base} {_GENERIC_WORDS[rng.integers(len(_GENERIC_WORDS))]}"
                if rng.random() < 0.3:
                    base = f"{base} {int(rng.integers(2, 99))}"
            form, variants = forms[rng.integers(len(forms))]
            legal = f"{base} {form}" if country != "RU" and country != "KZ" else f'{form} "{base}"'
            spellings = [legal, legal.upper(), _strip(legal)]
            for v in variants:
                if v in ("ООО", "ТОО") and local is not None:
                    loc = local[j] + (base[len(latin[j]) :] if base.startswith(latin[j]) else "")
                    spellings.append(f'{v} "{loc}"')
                elif v == "有限公司" and local is not None:
                    spellings.append(local[j] + v)
                else:
                    spellings.append(f"{base} {v}")
            licence = f"{base.upper()} {variants[0]}" if variants else legal.upper()
        out.append((legal, spellings, licence))
    return out


LISTED_CORES = (
    "Rostekhsplav",
    "Novotreid Vostok",
    "Zhonghe Zhanlue",
    "Sinoimex Xitu",
    "Crescent Star Bridge",
    "Kavosh Sanat",
    "Pyongsan Muyok",
    "Belmetallimpeks",
    "Arktik Resurs",
    "Tekhno Baltika",
    "Vostokredmet",
    "Hongxin Guofang",
    "Amur Redkozem",
    "Taiga Spetsmet",
    "Qilin Strategic",
)


LISTED_VN_CORES = ("Dong Pao Dat Hiem", "Phong Tho Khoang", "Nam Xe Resources", "Yen Phu Kim Loai")


def listed_names(rng: np.random.Generator, country: str, n: int) -> list[tuple[str, list[str], str]]:
    """Names for listed entities: words of their own, so that only real links resemble them."""
    return company_names(rng, country, n, cores=LISTED_CORES)


def listed_core(name: str) -> str:
    """The distinctive word(s) of a listed entity's name ('' if none)."""
    return next((c for c in LISTED_CORES + LISTED_VN_CORES if c in name), "")


_GIVEN = {
    "VN": ("Nguyen Van", "Tran Thi", "Le Van", "Pham Minh", "Hoang Thi", "Vu Duc", "Do Quang"),
    "RU": ("Sergei", "Olga", "Dmitry", "Irina", "Alexei"),
    "CN": ("Wang", "Li", "Zhang", "Liu", "Chen"),
    "TR": ("Mehmet", "Ayşe", "Mustafa", "Elif"),
    "AE": ("Ahmed", "Fatima", "Omar", "Khalid"),
}
_FAMILY = {
    "VN": ("Anh", "Binh", "Cuong", "Dung", "Hai", "Lan", "Tuan", "Thao"),
    "RU": ("Ivanov", "Petrova", "Sokolov", "Kuznetsova", "Volkov"),
    "CN": ("Wei", "Jun", "Hong", "Ming", "Xiaoling"),
    "TR": ("Yılmaz", "Kaya", "Demir", "Şahin"),
    "AE": ("Al Mansoori", "Al Hashimi", "Haddad", "Nasser"),
}


def person_name(rng: np.random.Generator, country: str) -> str:
    c = country if country in _GIVEN else "VN"
    return f"{_GIVEN[c][rng.integers(len(_GIVEN[c]))]} {_FAMILY[c][rng.integers(len(_FAMILY[c]))]}"


_STREETS = (
    "Duong Lang",
    "Nguyen Trai",
    "Le Loi",
    "Tran Hung Dao",
    "Hai Ba Trung",
    "Ly Thuong Kiet",
    "Vo Van Kiet",
)
_CITIES = (
    "Ha Noi",
    "TP Ho Chi Minh",
    "Hai Phong",
    "Da Nang",
    "Binh Duong",
    "Quang Ninh",
    "Lao Cai",
    "Vung Tau",
)
AGENT_ADDRESSES = (
    ("Office 1203, Cluster J, Jumeirah Lake Towers, Dubai", "AE", "Emirates Formation Partners"),
    ("Flat B, 17/F, 688 Nathan Road, Mong Kok, Kowloon", "HK", "Harbour Corporate Services"),
    ("Levent Mah. Büyükdere Cad. No:185 K:12, Beşiktaş, İstanbul", "TR", "Bosfor Kurumsal Danışmanlık"),
    ("12 Rustaveli Ave, office 4, Batumi", "GE", "Black Sea Registrars"),
    ("Al-Farabi 77/8, Almaty", "KZ", "Steppe Corporate"),
    ("1 Raffles Place #20-61, Singapore", "SG", "Lion City Nominees"),
    ("Zone A, Hamriyah Free Zone, Sharjah", "AE", "Hamriyah Setup Services"),
)


def address(rng: np.random.Generator, country: str, n: int) -> str:
    if country == "VN":
        return (
            f"So {n % 300 + 1} {_STREETS[rng.integers(len(_STREETS))]}, {_CITIES[rng.integers(len(_CITIES))]}"
        )
    return f"{n % 900 + 10} Industrial Road, unit {int(rng.integers(1, 80))}, {country}"


END_USES = (
    "permanent magnet production",
    "catalyst manufacture",
    "polishing compounds",
    "research and development",
    "alloy production",
    "phosphors and optics",
)
