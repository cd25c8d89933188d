"""The console's words in Chinese (the default) and English, kept apart from the code.

Pages and their script take the same table (the script gets it as JSON), so a word is translated
once. ``?lang=en`` switches a browser to English and remembers it in a cookie.
"""

from __future__ import annotations

LANGS = ("zh", "en")
DEFAULT_LANG = "zh"

TEXTS: dict[str, dict[str, str]] = {
    "title": {"zh": "执法办案管理中心监督", "en": "Case-handling centre supervision"},
    "overview": {"zh": "一屏监督", "en": "Overview"},
    "alerts": {"zh": "告警", "en": "Alerts"},
    "login": {"zh": "登录", "en": "Log in"},
    "logout": {"zh": "退出", "en": "Log out"},
    "username": {"zh": "用户名", "en": "Username"},
    "password": {"zh": "密码", "en": "Password"},
    "login_failed": {"zh": "用户名或密码错误", "en": "Wrong username or password"},
    "login_locked": {"zh": "尝试次数过多，请五分钟后再试", "en": "Too many failed logins: wait five minutes"},
    "rooms": {"zh": "功能室", "en": "Rooms"},
    "custody": {"zh": "在区人员", "en": "In custody"},
    "cameras": {"zh": "摄像头", "en": "Cameras"},
    "dossiers": {"zh": "卷宗柜", "en": "Dossier cabinets"},
    "persons": {"zh": "人数", "en": "Persons"},
    "name": {"zh": "姓名", "en": "Name"},
    "detainees": {"zh": "被带入人员", "en": "Detainees"},
    "staff": {"zh": "民警手环", "en": "Staff bands"},
    "procedure": {"zh": "办案类型", "en": "Procedure"},
    "arrived": {"zh": "到达", "en": "Arrived"},
    "elapsed": {"zh": "在区时长", "en": "Time in centre"},
    "room": {"zh": "所在房间", "en": "Room"},
    "level": {"zh": "等级", "en": "Level"},
    "level_action": {"zh": "升级", "en": "Level reached"},
    "rule": {"zh": "规则", "en": "Rule"},
    "state": {"zh": "状态", "en": "State"},
    "opened": {"zh": "发生时间", "en": "Opened"},
    "assignee": {"zh": "责任人", "en": "Assignee"},
    "basis": {"zh": "依据", "en": "Legal basis"},
    "history": {"zh": "处置记录", "en": "History"},
    "notifications": {"zh": "提醒", "en": "Notifications"},
    "comment": {"zh": "说明", "en": "Comment"},
    "all": {"zh": "全部", "en": "All"},
    "open_only": {"zh": "未关闭", "en": "Not closed"},
    "none": {"zh": "无", "en": "None"},
    "live": {"zh": "实时", "en": "Live"},
    "offline": {"zh": "连接中断", "en": "Disconnected"},
    "acknowledge": {"zh": "签收", "en": "Acknowledge"},
    "assign": {"zh": "派单", "en": "Assign"},
    "rectify": {"zh": "整改", "en": "Rectify"},
    "verify": {"zh": "核查通过", "en": "Verify"},
    "reject": {"zh": "退回", "en": "Reject"},
    "close": {"zh": "关闭", "en": "Close"},
    "comment_action": {"zh": "备注", "en": "Comment"},
    "raise": {"zh": "发现", "en": "Raised"},
    "escalate": {"zh": "超时升级", "en": "Escalated"},
    "clear": {"zh": "条件解除", "en": "Cleared"},
    "correction": {"zh": "更正", "en": "Corrected"},
    "state_open": {"zh": "待签收", "en": "Open"},
    "state_acknowledged": {"zh": "已签收", "en": "Acknowledged"},
    "state_assigned": {"zh": "整改中", "en": "Assigned"},
    "state_rectified": {"zh": "待核查", "en": "Rectified"},
    "state_verified": {"zh": "已核查", "en": "Verified"},
    "state_closed": {"zh": "已关闭", "en": "Closed"},
    "level_green": {"zh": "绿", "en": "Green"},
    "level_blue": {"zh": "蓝", "en": "Blue"},
    "level_yellow": {"zh": "黄", "en": "Yellow"},
    "level_orange": {"zh": "橙", "en": "Orange"},
    "level_red": {"zh": "红", "en": "Red"},
    "proc_summons": {"zh": "传唤", "en": "Summons"},
    "proc_compelled": {"zh": "拘传", "en": "Compelled"},
    "proc_inquiry": {"zh": "询问查证", "en": "Inquiry"},
    "proc_panwen": {"zh": "继续盘问", "en": "Continued questioning"},
    "proc_other": {"zh": "其他", "en": "Other"},
    "cam_online": {"zh": "在线", "en": "Online"},
    "cam_offline": {"zh": "离线", "en": "Offline"},
    "cam_frozen": {"zh": "画面冻结", "en": "Frozen"},
    "cam_covered": {"zh": "遮挡", "en": "Covered"},
    "cam_defocused": {"zh": "失焦", "en": "Defocused"},
    "cam_moved": {"zh": "移位", "en": "Moved"},
    "dossier_in": {"zh": "在柜", "en": "In the cabinet"},
    "dossier_out": {"zh": "已借出", "en": "Taken out"},
    "action_failed": {"zh": "操作失败", "en": "Action failed"},
    "language": {"zh": "English", "en": "中文"},
    "timeline": {"zh": "全程电子轨迹", "en": "Timeline"},
    "print": {"zh": "打印", "en": "Print"},
    "time": {"zh": "时间", "en": "Time"},
    "step": {"zh": "环节", "en": "Step"},
    "detail": {"zh": "详情", "en": "Detail"},
    "arrival": {"zh": "到达办案区", "en": "Arrival"},
    "release": {"zh": "离开办案区", "en": "Release"},
    "band_bind": {"zh": "佩戴手环", "en": "Band bound"},
    "band_unbind": {"zh": "解除手环", "en": "Band released"},
    "safety_check": {"zh": "人身安全检查", "en": "Safety check"},
    "info_collection": {"zh": "信息采集", "en": "Information collection"},
    "belongings_stored": {"zh": "随身物品保管", "en": "Belongings stored"},
    "belongings_returned": {"zh": "随身物品发还", "en": "Belongings returned"},
    "meal": {"zh": "饮食", "en": "Meal"},
    "rest_start": {"zh": "开始休息", "en": "Rest starts"},
    "rest_end": {"zh": "结束休息", "en": "Rest ends"},
    "health_check": {"zh": "健康检查", "en": "Health check"},
    "approval": {"zh": "审批", "en": "Approval"},
    "room_step": {"zh": "进入房间", "en": "Room"},
    "alert_step": {"zh": "告警", "en": "Alert"},
    "present": {"zh": "在场民警", "en": "Staff present"},
    "until": {"zh": "至", "en": "until"},
}


def text(key: str, lang: str) -> str:
    entry = TEXTS.get(key)
    if entry is None:
        return key
    return entry.get(lang) or entry[DEFAULT_LANG]


def table(lang: str) -> dict[str, str]:
    return {key: text(key, lang) for key in TEXTS}
