"""Word lists for the demo data: people's names, place-name roots, streets, company names, health notes.

Pairs are (Chinese, English/pinyin) so every generated name has both forms without a pinyin library.
"""

from __future__ import annotations

# Common surnames in Hohhot, including the Tumed/Mongolian-origin 云, 奇, 荣, 包 and 杭.
SURNAMES = (
    "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟陆汪范金石贾夏付方白邹孟秦邱尹薛闫段雷侯史陶贺顾毛郝邵武乔云奇荣包杭康樊郎温霍牛安常"
)

# Given names by generation: the residents were born 1926-1961, their children and neighbours later.
ELDER_FEMALE = (
    "秀英", "桂兰", "玉兰", "淑珍", "凤英", "秀兰", "桂英", "玉珍", "淑兰", "兰英", "秀珍", "凤兰", "桂芳",
    "玉梅", "秀芳", "金花", "淑芬", "丽华", "翠兰", "素珍", "月英", "美兰", "俊英", "秀云", "桂珍", "玉英",
    "春兰", "冬梅", "爱华", "红梅", "彩霞", "英", "兰", "珍", "芳", "梅", "淑琴", "桂香", "秀梅", "玉芬",
)
ELDER_MALE = (
    "建国", "国华", "志明", "德才", "福林", "国庆", "振华", "卫东", "永福", "德明", "文华", "玉林", "志强",
    "国强", "宝山", "满仓", "有才", "长海", "树林", "铁柱", "保国", "兴旺", "春生", "秋生", "金山", "德胜",
    "福贵", "长春", "根生", "军", "强", "明", "林", "海", "刚", "俊峰", "成", "万祥", "占奎", "存厚",
)
ADULT_FEMALE = (
    "丽", "娜", "敏", "静", "燕", "艳", "红", "霞", "婷", "丽娟", "晓燕", "海燕", "建英", "慧", "颖", "晓霞",
    "亚楠", "雪", "洁", "晓丽", "春燕", "丽萍", "秀丽", "美玲", "晓红", "玉霞", "金凤", "文静", "婧", "璐",
)
ADULT_MALE = (
    "伟", "磊", "勇", "军", "强", "鹏", "涛", "斌", "浩", "杰", "建军", "海军", "志刚", "晓东", "宏伟",
    "文斌", "俊", "亮", "鑫", "凯", "利民", "永强", "建平", "海龙", "瑞", "波", "超", "东升", "志勇", "晓峰",
)
# Mongolian given names, used without a surname as is usual in Hohhot.
MONGOLIAN_FEMALE = (
    "其其格", "乌云", "斯琴", "萨仁", "高娃", "娜仁", "图雅", "格日勒", "托娅", "乌兰", "塔娜", "萨日娜",
    "乌日娜", "阿如娜", "斯琴高娃", "敖登", "苏布达", "吉雅", "额尔德尼", "莎仁", "娜日苏", "乌仁",
)
MONGOLIAN_MALE = (
    "巴特尔", "宝音", "额尔敦", "那顺", "孟和", "朝鲁", "苏和", "乌力吉", "巴图", "阿拉坦", "布和", "特木尔",
    "巴雅尔", "额尔德木图", "毕力格", "哈斯", "达来", "吉日嘎拉", "斯日古楞", "满达", "图门", "敖其尔",
)

MOBILE_PREFIXES = (
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "147", "150", "151", "152", "155", "156",
    "158", "159", "177", "180", "181", "186", "187", "189",
)

# Roots of community names; each becomes e.g. 团结路社区 / Tuanjie Road Community.
PLACE_ROOTS = (
    ("团结", "Tuanjie"), ("友谊", "Youyi"), ("和平", "Heping"), ("光明", "Guangming"), ("幸福", "Xingfu"),
    ("新华", "Xinhua"), ("建设", "Jianshe"), ("胜利", "Shengli"), ("兴安", "Xing'an"), ("民族", "Minzu"),
    ("如意", "Ruyi"), ("丰州", "Fengzhou"), ("青城", "Qingcheng"), ("昭君", "Zhaojun"), ("大召", "Dazhao"),
    ("通道", "Tongdao"), ("锡林", "Xilin"), ("海拉尔", "Hailar"), ("呼伦", "Hulun"), ("乌兰", "Ulan"),
    ("满都海", "Manduhai"), ("巴彦", "Bayan"), ("东风", "Dongfeng"), ("长乐", "Changle"), ("安康", "Ankang"),
    ("和谐", "Hexie"), ("阳光", "Yangguang"), ("康乐", "Kangle"), ("富强", "Fuqiang"), ("文化", "Wenhua"),
    ("公园", "Gongyuan"), ("人民", "Renmin"), ("车站", "Chezhan"), ("石羊桥", "Shiyangqiao"),
    ("南茶坊", "Nanchafang"), ("小召", "Xiaozhao"), ("五塔寺", "Wutasi"), ("攸攸板", "Youyouban"),
    ("西菜园", "Xicaiyuan"), ("东瓦窑", "Dongwayao"), ("腾飞", "Tengfei"), ("巨海", "Juhai"),
    ("丁香", "Dingxiang"), ("金地", "Jindi"), ("百合", "Baihe"), ("桃花", "Taohua"), ("鼓楼", "Gulou"),
    ("北垣", "Beiyuan"), ("滨河", "Binhe"), ("学府", "Xuefu"), ("二里半", "Erliban"), ("府兴", "Fuxing"),
    ("敕勒川", "Chilechuan"), ("中山", "Zhongshan"), ("大学", "Daxue"), ("乌素图", "Wusutu"),
    ("兴隆", "Xinglong"), ("富民", "Fumin"), ("振华", "Zhenhua"), ("永安", "Yong'an"), ("祥和", "Xianghe"),
    ("育才", "Yucai"), ("朝阳", "Chaoyang"), ("曙光", "Shuguang"), ("前进", "Qianjin"), ("红旗", "Hongqi"),
    ("如意河", "Ruyihe"), ("大台什", "Dataishi"), ("舍必崖", "Shebiya"),
    ("毫沁营", "Haoqinying"), ("章盖营", "Zhanggaiying"), ("巧报", "Qiaobao"), ("桥华", "Qiaohua"),
    ("黄河", "Huanghe"), ("阴山", "Yinshan"), ("草原", "Caoyuan"), ("白塔", "Baita"), ("钢铁", "Gangtie"),
    ("电力", "Dianli"), ("铁路", "Tielu"), ("电厂", "Dianchang"), ("农机", "Nongji"), ("糖厂", "Tangchang"),
)
DIRECTIONS = (("东", "East"), ("西", "West"), ("南", "South"), ("北", "North"))
# Community-name patterns: (Chinese suffix, English suffix, takes a direction).
PLACE_STYLES = (
    ("路", "Road", False), ("路", "Road", True), ("街", "Street", False), ("街", "Street", True),
    ("里", "Li", False), ("园", "Garden", False), ("苑", "Court", False), ("", "", False),
)

# Real street names of urban Hohhot, for addresses.
URBAN_STREETS = (
    "新华大街", "中山西路", "中山东路", "锡林郭勒北路", "锡林郭勒南路", "呼伦贝尔北路", "呼伦贝尔南路",
    "海拉尔东路", "海拉尔西路", "通道北街", "通道南街", "大学西街", "大学东街", "昭乌达路", "乌兰察布西路",
    "鄂尔多斯大街", "兴安南路", "兴安北路", "成吉思汗大街", "新华东街", "巴彦淖尔北路", "公园东路", "滨河北路",
    "丰州路", "县府街", "石羊桥东路", "石羊桥西路", "二环路", "南二环快速路", "赛罕路", "机场路", "展东路",
    "爱民街", "北垣东街", "工农兵路", "新城西街", "东影南路", "大召前街", "五塔寺后街", "西顺城街",
)
# Town streets and villages of the rural counties.
TOWN_STREETS = (
    "团结街", "富民路", "新建街", "政府路", "建设路", "迎宾路", "文化街", "车站路", "兴隆街", "光明路",
    "东街", "西街", "南街", "北街",
)
VILLAGES = ("前营村", "后营村", "东村", "西村", "新村", "三道河村", "沙梁村", "南园子村", "北沙窝村")

# Provider company names: brand (zh, pinyin) and business by category code.
BRANDS = (
    ("康乐", "Kangle"), ("福寿", "Fushou"), ("夕阳红", "Xiyanghong"), ("安馨", "Anxin"), ("颐和", "Yihe"),
    ("乐龄", "Leling"), ("仁爱", "Ren'ai"), ("金色年华", "Jinse Nianhua"), ("松鹤", "Songhe"),
    ("青城", "Qingcheng"), ("草原", "Caoyuan"), ("北疆", "Beijiang"), ("蒙康", "Mengkang"),
    ("祥和", "Xianghe"), ("惠民", "Huimin"), ("万家", "Wanjia"), ("邻里", "Linli"), ("孝亲", "Xiaoqin"),
    ("德馨", "Dexin"), ("泰和", "Taihe"), ("瑞康", "Ruikang"), ("佳美", "Jiamei"), ("洁美", "Jiemei"),
    ("好帮手", "Haobangshou"), ("巧手", "Qiaoshou"), ("鑫源", "Xinyuan"), ("天骄", "Tianjiao"),
    ("塞上", "Saishang"), ("敕勒川", "Chilechuan"), ("阳光", "Yangguang"), ("爱心", "Aixin"),
    ("温馨", "Wenxin"), ("百姓", "Baixing"), ("吉祥", "Jixiang"), ("和顺", "Heshun"), ("益寿", "Yishou"),
    ("长青", "Changqing"), ("康宁", "Kangning"), ("福满堂", "Fumantang"), ("慈航", "Cihang"),
)
BUSINESSES = {
    "care": (("居家养老服务", "Home Care Services"), ("养老服务", "Elderly Care Services")),
    "housekeeping": (("家政服务", "Housekeeping Services"), ("保洁服务", "Cleaning Services")),
    "repair": (("家电维修", "Appliance Repair"), ("电器服务", "Electrical Services")),
    "meal": (("助餐配送", "Meal Delivery"), ("餐饮服务", "Catering Services")),
    "nursing": (("护理服务", "Nursing Services"), ("医疗护理", "Medical Nursing")),
    "escort": (("陪护服务", "Companion Services"), ("便民服务", "Community Services")),
    "bathing": (("助浴服务", "Bathing Services"), ("个人护理", "Personal Care")),
    "rehab": (("康复理疗", "Rehabilitation"), ("中医理疗", "TCM Therapy")),
    "comfort": (("社会工作服务中心", "Social Work Service Centre"), ("文化服务", "Cultural Services")),
}
SKILLS = {
    "care": ("养老护理员（中级）", "养老护理员（高级）", "失能照护", "急救证", "认知症照护"),
    "housekeeping": ("保洁", "收纳整理", "烹饪", "育婴", "家电清洗"),
    "repair": ("电工证", "制冷维修", "燃气具安装", "水暖", "开锁备案"),
    "meal": ("健康证", "送餐", "营养配餐", "清真餐制作"),
    "nursing": ("护士执业证", "静脉输液", "伤口护理", "慢病管理", "急救证"),
    "escort": ("驾驶证", "陪诊", "医保代办", "轮椅转运"),
    "bathing": ("助浴", "理发", "足部护理", "移位"),
    "rehab": ("康复治疗师", "推拿", "针灸", "蒙医", "运动康复"),
    "comfort": ("心理咨询师", "社工证", "书法", "二人台", "蒙语"),
}

# Health notes, each with the medication usually prescribed (None when it is not a drug matter).
CONDITIONS = (
    ("高血压", "硝苯地平缓释片 20mg 每日两次"),
    ("糖尿病", "二甲双胍 0.5g 每日三次"),
    ("2型糖尿病（胰岛素）", "门冬胰岛素 餐前皮下注射"),
    ("冠心病", "阿司匹林肠溶片 100mg 每日一次；硝酸甘油 随身携带"),
    ("心房颤动", "华法林 2.5mg 每日一次（抗凝，跌倒后注意出血）"),
    ("脑梗后遗症，左侧肢体无力", "氯吡格雷 75mg 每日一次"),
    ("慢阻肺", "噻托溴铵吸入剂 每日一次"),
    ("骨质疏松", "碳酸钙D3片 每日一次"),
    ("膝关节炎", None),
    ("白内障，视力差", None),
    ("听力下降，需大声说话", None),
    ("阿尔茨海默病早期", "多奈哌齐 5mg 每晚一次"),
    ("帕金森病", "多巴丝肼 每日三次"),
    ("慢性肾病", "定期复查肾功能"),
    ("高血脂", "阿托伐他汀 20mg 每晚一次"),
)
DIALECTS_ZH = ("呼市话（晋语）", "土默特话", "山西口音", "河北口音", "东北话")
DIALECTS_MN = ("蒙古语（察哈尔）", "蒙古语（土默特）", "蒙古语（科尔沁）")
# How a responder gets in, by kind of home ({code} and {room} are filled in).
ACCESS_URBAN = (
    "单元门密码 #{code}", "备用钥匙在邻居{room}室", "家属持有钥匙，先联系第一联系人", "防盗门常反锁，需家属开门",
    "楼下门卫可协助开单元门", "物业值班室有备用钥匙",
)
ACCESS_RURAL = ("院门钥匙在隔壁邻居家", "家属持有钥匙，先联系第一联系人", "院门不锁，屋门钥匙在窗台花盆下")
KEY_SAFE_NOTE = "门框右侧有钥匙保险箱"
NOTES_ANY = ("家中养狗，进门注意", "老人耳背，敲门需用力", "午睡13:00-15:00，电话可能无人接")
NOTES_URBAN = ("楼内无电梯，担架需从楼梯抬", "轮椅出入需走北侧坡道", "小区东门夜间关闭，走南门")
NOTES_RURAL = ("平房，院门朝东", "冬季燃煤取暖，注意一氧化碳", "村路窄，救护车停在路口")
