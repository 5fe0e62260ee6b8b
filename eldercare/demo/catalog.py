"""The service catalogue: 9 categories and 110 service types with price, subsidy and timing defaults."""

from __future__ import annotations

from decimal import Decimal

from eldercare.demo.context import Row

# (code, Chinese, English)
CATEGORIES = (
    ("care", "养老护理", "Elderly care"),
    ("housekeeping", "家政服务", "Housekeeping"),
    ("repair", "家电维修", "Appliance repair"),
    ("meal", "助餐配餐", "Meals"),
    ("nursing", "医疗护理", "Nursing & health"),
    ("escort", "陪护代办", "Escort & errands"),
    ("bathing", "助浴", "Bathing & personal care"),
    ("rehab", "康复理疗", "Rehabilitation"),
    ("comfort", "精神慰藉", "Spiritual comfort & culture"),
)

# Per category: (slug, Chinese, English, unit, price in yuan, subsidy eligible, SLA minutes to arrival).
# Urgent work (locks, pipes, injections) promises an hour or two; routine work a day or two.
SERVICE_TYPES: dict[str, tuple[tuple[str, str, str, str, str, bool, int], ...]] = {
    "care": (
        ("home_visit", "上门探视", "Home check-on visit", "visit", "30", True, 240),
        ("personal_care", "居家生活照料", "Personal care at home", "hour", "35", True, 240),
        ("day_care", "日间照料", "Day care", "day", "60", True, 1440),
        ("overnight", "夜间陪护", "Overnight care", "day", "150", True, 480),
        ("feeding", "协助进食", "Help with eating", "visit", "25", True, 180),
        ("toileting", "如厕协助", "Toileting assistance", "visit", "25", True, 120),
        ("dressing", "穿衣洗漱", "Dressing and washing", "visit", "25", True, 180),
        ("transfer", "移位翻身", "Transfer and turning in bed", "visit", "30", True, 120),
        ("respite", "喘息服务", "Respite care for family carers", "day", "120", True, 2880),
        ("dementia", "认知症照护", "Dementia care", "hour", "45", True, 480),
        ("medication_reminder", "用药提醒", "Medication reminder", "visit", "15", True, 240),
        ("safety_check", "居家安全检查", "Home safety check", "visit", "20", True, 1440),
    ),
    "housekeeping": (
        ("cleaning", "日常保洁", "Routine cleaning", "hour", "35", True, 1440),
        ("deep_cleaning", "深度保洁", "Deep cleaning", "hour", "45", False, 2880),
        ("window_cleaning", "擦玻璃", "Window cleaning", "visit", "80", False, 2880),
        ("laundry", "衣物洗涤", "Laundry", "item", "10", True, 1440),
        ("bedding", "被褥拆洗", "Bedding washing", "item", "30", True, 2880),
        ("cooking", "上门做饭", "Home cooking", "hour", "35", True, 480),
        ("kitchen_degrease", "厨房除油污", "Kitchen degreasing", "visit", "120", False, 2880),
        ("pest_control", "除虫消杀", "Pest control", "visit", "100", False, 2880),
        ("window_sealing", "封窗保暖", "Winter window sealing", "visit", "60", True, 2880),
        ("furniture_moving", "家具搬运", "Furniture moving", "visit", "80", False, 2880),
        ("rubbish_removal", "垃圾清运", "Rubbish removal", "visit", "30", False, 1440),
        ("snow_clearing", "清扫积雪", "Snow clearing", "visit", "30", True, 720),
    ),
    "repair": (
        ("tv", "电视维修", "TV repair", "visit", "50", False, 1440),
        ("washing_machine", "洗衣机维修", "Washing-machine repair", "visit", "60", False, 1440),
        ("fridge", "冰箱维修", "Refrigerator repair", "visit", "80", False, 720),
        ("water_heater", "热水器维修", "Water-heater repair", "visit", "60", False, 720),
        ("range_hood", "油烟机清洗维修", "Range-hood cleaning and repair", "visit", "100", False, 2880),
        ("gas_stove", "燃气灶维修", "Gas-stove repair", "visit", "60", False, 240),
        ("plumbing", "水管疏通维修", "Plumbing and drain unblocking", "visit", "80", False, 120),
        ("electrical", "电路维修", "Electrical wiring repair", "visit", "60", False, 120),
        ("lock", "开锁换锁", "Lock opening and replacement", "visit", "80", False, 60),
        ("heating", "暖气维修", "Radiator and heating repair", "visit", "60", False, 240),
        ("air_conditioner", "空调维修", "Air-conditioner repair", "visit", "80", False, 1440),
        ("phone_setup", "手机电视设置", "Phone and TV set-up help", "visit", "20", True, 1440),
        ("furniture", "家具维修", "Furniture repair", "visit", "50", False, 2880),
    ),
    "meal": (
        ("lunch_delivery", "午餐配送", "Lunch delivery", "meal", "15", True, 90),
        ("dinner_delivery", "晚餐配送", "Dinner delivery", "meal", "15", True, 90),
        ("breakfast_delivery", "早餐配送", "Breakfast delivery", "meal", "8", True, 90),
        ("canteen", "社区助餐点就餐", "Community canteen meal", "meal", "12", True, 1440),
        ("diabetic", "糖尿病餐", "Diabetic meal", "meal", "18", True, 120),
        ("soft_diet", "软食流食", "Soft or liquid diet", "meal", "18", True, 120),
        ("halal", "清真餐", "Halal meal", "meal", "16", True, 90),
        ("mongolian", "蒙餐", "Mongolian meal", "meal", "25", False, 120),
        ("festival", "节日餐", "Festival meal", "meal", "30", False, 2880),
        ("groceries", "代购食材", "Grocery shopping", "visit", "10", True, 480),
        ("monthly_plan", "包月配餐", "Monthly meal plan", "item", "420", True, 2880),
        ("nutrition_advice", "营养配餐咨询", "Nutrition advice", "session", "30", False, 2880),
    ),
    "nursing": (
        ("blood_pressure", "测量血压", "Blood-pressure check", "visit", "10", True, 480),
        ("blood_glucose", "血糖监测", "Blood-glucose test", "visit", "15", True, 480),
        ("injection", "上门注射", "Injection at home", "visit", "30", True, 120),
        ("iv_infusion", "上门输液", "IV infusion at home", "visit", "60", True, 120),
        ("wound_dressing", "伤口换药", "Wound dressing", "visit", "40", True, 240),
        ("pressure_sore", "压疮护理", "Pressure-sore care", "visit", "50", True, 240),
        ("catheter", "导尿管护理", "Catheter care", "visit", "60", True, 240),
        ("feeding_tube", "鼻饲管护理", "Feeding-tube care", "visit", "60", True, 240),
        ("doctor_visit", "家庭医生上门", "Family-doctor home visit", "visit", "50", True, 480),
        ("health_check", "健康体检", "Health check-up", "visit", "80", True, 2880),
        ("medicine_delivery", "送药上门", "Medicine delivery", "visit", "10", True, 240),
        ("chronic_followup", "慢病随访", "Chronic-disease follow-up", "visit", "20", True, 2880),
        ("palliative", "安宁疗护", "Palliative care visit", "visit", "100", True, 480),
    ),
    "escort": (
        ("hospital", "陪同就医", "Escort to hospital", "hour", "40", True, 240),
        ("hospital_stay", "住院陪护", "Hospital stay companion", "day", "200", False, 720),
        ("shopping", "陪同购物", "Shopping escort", "hour", "30", False, 1440),
        ("walk", "陪同散步", "Walk companion", "hour", "25", True, 1440),
        ("bill_payment", "代缴水电燃气费", "Utility bill payment", "visit", "10", True, 1440),
        ("heating_fee", "代缴取暖费", "Heating-fee payment", "visit", "10", True, 2880),
        ("social_insurance", "代办社保业务", "Social-insurance errands", "visit", "20", True, 2880),
        ("prescription", "代取药", "Prescription pick-up", "visit", "15", True, 480),
        ("daily_goods", "代购日用品", "Daily-goods shopping", "visit", "10", True, 480),
        ("paperwork", "代办证件", "ID and paperwork errands", "visit", "30", False, 2880),
        ("transport", "助行接送", "Door-to-door transport", "visit", "40", True, 240),
        ("parcel", "代寄快递", "Parcel sending", "visit", "10", False, 1440),
    ),
    "bathing": (
        ("home_bath", "上门助浴", "Bathing at home", "visit", "80", True, 1440),
        ("bed_bath", "床上擦浴", "Bed bath", "visit", "50", True, 720),
        ("mobile_bath", "助浴车上门", "Mobile bath van", "visit", "150", True, 2880),
        ("bathhouse_escort", "陪同洗浴", "Bath-house escort", "visit", "60", True, 1440),
        ("hair_wash", "洗头", "Hair washing", "visit", "20", True, 1440),
        ("haircut", "上门理发", "Haircut at home", "visit", "20", True, 1440),
        ("shaving", "剃须", "Shaving", "visit", "10", True, 1440),
        ("nail_care", "修剪指甲", "Nail trimming", "visit", "15", True, 1440),
        ("foot_care", "足部护理", "Foot care", "visit", "40", True, 1440),
        ("oral_care", "口腔清洁", "Oral care", "visit", "20", True, 720),
        ("skin_care", "皮肤护理", "Skin care", "visit", "30", True, 1440),
    ),
    "rehab": (
        ("physio", "康复训练", "Physiotherapy session", "session", "80", True, 2880),
        ("massage", "推拿按摩", "Therapeutic massage", "session", "60", False, 1440),
        ("acupuncture", "针灸", "Acupuncture", "session", "60", False, 2880),
        ("cupping", "拔罐", "Cupping", "session", "30", False, 1440),
        ("moxibustion", "艾灸", "Moxibustion", "session", "40", False, 1440),
        ("stroke", "中风后康复", "Stroke rehabilitation", "session", "100", True, 2880),
        ("walking_training", "步行训练", "Walking training", "session", "50", True, 2880),
        ("speech", "言语训练", "Speech therapy", "session", "80", True, 2880),
        ("aids_rental", "辅具租赁", "Mobility-aid rental", "item", "30", True, 1440),
        ("home_adaptation", "适老化改造评估", "Home-adaptation assessment", "visit", "0", True, 2880),
        ("mongolian_medicine", "蒙医理疗", "Mongolian-medicine therapy", "session", "70", False, 2880),
        ("fall_prevention", "防跌倒训练", "Fall-prevention exercise", "session", "40", True, 2880),
    ),
    "comfort": (
        ("chat", "聊天陪伴", "Companion chat", "hour", "20", True, 1440),
        ("phone_call", "电话问候", "Phone check-in call", "session", "0", True, 240),
        ("reading", "读书读报", "Reading aloud", "hour", "20", True, 1440),
        ("counselling", "心理疏导", "Counselling", "session", "60", True, 1440),
        ("birthday", "生日关怀", "Birthday visit", "visit", "0", True, 2880),
        ("festival_visit", "节日慰问", "Festival visit", "visit", "0", True, 2880),
        ("calligraphy", "书法绘画", "Calligraphy and painting", "session", "20", False, 2880),
        ("local_opera", "二人台欣赏", "Errentai folk-opera afternoon", "session", "10", False, 2880),
        ("exercise_class", "健身操", "Group exercise class", "session", "10", False, 2880),
        ("smartphone", "智能手机教学", "Smartphone lessons", "session", "0", True, 2880),
        ("legal_aid", "法律咨询", "Legal advice", "session", "0", True, 2880),
        ("bereavement", "丧偶关怀", "Bereavement support", "visit", "0", True, 1440),
        ("portrait", "上门拍照", "Portrait photography at home", "visit", "50", False, 2880),
    ),
}


def category_rows() -> list[Row]:
    return [
        {"id": i, "code": code, "name_zh": zh, "name_en": en, "sort_order": i * 10}
        for i, (code, zh, en) in enumerate(CATEGORIES, start=1)
    ]


def service_type_rows() -> list[Row]:
    rows: list[Row] = []
    for category_id, (category, _zh, _en) in enumerate(CATEGORIES, start=1):
        for slug, zh, en, unit, price, subsidy, sla in SERVICE_TYPES[category]:
            rows.append({
                "id": len(rows) + 1, "category_id": category_id, "code": f"{category}.{slug}",
                "name_zh": zh, "name_en": en, "unit": unit, "unit_price": Decimal(price).quantize(Decimal("0.01")),
                "subsidy_eligible": subsidy, "default_sla_minutes": sla, "offer_expiry_s": _offer_expiry(sla),
                "active": True,
            })
    return rows


def _offer_expiry(sla_minutes: int) -> int:
    # The tighter the promise, the less time one provider may sit on an offer before the next one gets it.
    if sla_minutes <= 120:
        return 120
    return 300 if sla_minutes <= 480 else 600
