"""Every string the web extension shows, in both languages, declared once.

They reach the browser through the locale files (`locales/<lang>/main.json`, key `hdredraw.ui`, written by
`python -m hdredraw.nodes.i18n --write`) and the pack's `/hdredraw/strings` route, so the JavaScript holds no
user-facing text of its own and a translation can never drift from this table.  `{name}` marks a value the
front end fills in.
"""

from __future__ import annotations

from ..engine.text import Text

UI: dict[str, Text] = {
    # ---- settings dialog (labels and tooltips of the settings themselves are in settings.json)
    "save": Text("Save", "保存"),
    "clear": Text("Clear", "清除"),
    "reset": Text("Reset", "恢复默认"),
    "keyPlaceholder": Text("Enter a new value", "输入新值"),
    "keySet": Text("Set ({hint}) · {source}", "已设置（{hint}）· {source}"),
    "keyUnset": Text("Not set", "未设置"),
    "keyEnv": Text("Set ({hint}) by environment variable {env}, which wins over this field.",
                   "已由环境变量 {env} 设置（{hint}），优先于此处的设置。"),
    "keyBound": Text("Set ({hint}) · {source} · for {origin}", "已设置（{hint}）· {source} · 用于 {origin}"),
    "keyStale": Text("Not usable: entered for {origin}, but the base URL now points elsewhere. Enter the key again "
                     "to use it there.",
                     "不可用：此密钥是为 {origin} 填写的，但接口地址已改为其他地址。要在新地址使用，请重新填写密钥。"),
    "srcEnv": Text("Set by environment variable {env}, which wins over this field.",
                   "由环境变量 {env} 提供，优先于此处的设置。"),
    "srcFile": Text("Saved in the pack's config file", "保存在插件的配置文件中"),
    "srcDefault": Text("Default", "默认值"),
    "lockedTip": Text("Read-only here: unset {env} to change it in this dialog.",
                      "此处只读：取消环境变量 {env} 后才能在此修改。"),
    "saved": Text("Saved", "已保存"),
    "savedDetail": Text("{name} stored in the pack's config file.", "{name} 已写入插件配置文件。"),
    "removed": Text("Removed", "已删除"),
    "removedDetail": Text("{name} removed from the pack's config file.", "{name} 已从插件配置文件中删除。"),
    "saveFailed": Text("HD Redraw setting not saved", "HD Redraw 设置未保存"),
    "nothingTyped": Text("Type a value first.", "请先输入内容。"),
    "confirmClearTitle": Text("Remove the saved value?", "删除已保存的值？"),
    "confirmClearMessage": Text("{name} will be removed from the pack's config file.", "将从插件配置文件中删除 {name}。"),
    "statusFailed": Text("HD Redraw: cannot read the pack's settings", "HD Redraw：无法读取插件设置"),
    "sourceEnv": Text("environment variable", "环境变量"),
    "sourceFile": Text("config file", "配置文件"),
    "sourceDefault": Text("default", "默认"),
    # ---- task ids
    "copyTaskId": Text("Copy task id", "复制任务ID"),
    "copyTaskIdShort": Text("Copy task id: {id}", "复制任务ID：{id}"),
    "copyTaskIds": Text("Copy task ids ({count})", "复制任务ID（{count} 个）"),
    "copyFullId": Text("Task {id}: click to copy the full id", "任务 {id}：点击复制完整ID"),
    "copied": Text("Task id copied", "任务ID已复制"),
    "copyFailed": Text("Could not copy to the clipboard", "无法复制到剪贴板"),
    "noTaskId": Text("No task id yet: it appears once this node has started a task.",
                     "暂无任务ID：此节点开始任务后才会有。"),
    # ---- balance badge and sidebar
    "balanceUnknown": Text("HD Redraw: –", "HD Redraw：–"),
    "balanceTip": Text("HD Redraw balance: {count} tasks, ¥{money} left (as of {at}). Click for recent tasks.",
                       "HD Redraw 余额：剩余 {count} 次，¥{money}（截至 {at}）。点击查看最近任务。"),
    "balanceTipUnknown": Text("HD Redraw balance: shown after the first HD Redraw task. Click for recent tasks.",
                              "HD Redraw 余额：首个 HD Redraw 任务后显示。点击查看最近任务。"),
    "tasksLeft": Text("{count} tasks", "{count} 次"),
    "sidebarTooltip": Text("HD Redraw: balance and recent tasks", "HD Redraw：余额与最近任务"),
    "balance": Text("Balance", "余额"),
    "asOf": Text("as of {at}", "截至 {at}"),
    "today": Text("Spent today", "今日消费"),
    "todayNone": Text("Nothing charged today.", "今天没有扣费。"),
    "todayExact": Text("{amount} ({tasks} new tasks, from the balance the service reported)",
                       "{amount}（新任务 {tasks} 个，依据服务返回的余额）"),
    "todayEstimate": Text("≈ {amount} ({tasks} new tasks; estimate: some tasks ran at the same time)",
                          "≈ {amount}（新任务 {tasks} 个；估计值：部分任务同时运行）"),
    "todayUnknown": Text("{tasks} new tasks; the charge is not known yet", "新任务 {tasks} 个；扣费金额暂不可知"),
    "recentTasks": Text("Recent tasks", "最近任务"),
    "noTasks": Text("No tasks yet.", "暂无任务。"),
    "refresh": Text("Refresh", "刷新"),
    "openSettings": Text("Settings", "设置"),
    "configFile": Text("Config file: {path}", "配置文件：{path}"),
    "copy": Text("Copy", "复制"),
    "loadFailed": Text("Could not load: {error}", "加载失败：{error}"),
    "httpFailed": Text("{route} answered HTTP {status}; the ComfyUI console shows why.",
                       "{route} 返回 HTTP {status}，原因见 ComfyUI 控制台。"),
    # ---- task states (journal)
    "state_submitting": Text("submitting", "提交中"),
    "state_pending": Text("running", "运行中"),
    "state_done": Text("done", "完成"),
    "state_failed": Text("failed", "失败"),
    "state_uncertain": Text("uncertain (may have been charged)", "不确定（可能已扣费）"),
    # ---- cost on the node
    "amountTasks": Text("{n} tasks", "{n} 次"),
    "amountTask": Text("1 task", "1 次"),
    "amountMoney": Text("¥{n}", "¥{n}"),
    "amountNone": Text("no charge", "不扣费"),
    "priceUnknown": Text("Price not yet known: it is learned from the balance after the first tasks.",
                         "价格暂不可知：完成首批任务后根据余额推算。"),
    "priceNoBalance": Text("Price not known: this service reports no balance.", "价格不可知：该服务不返回余额。"),
    "priceFree": Text("No charge: fetching a finished task is free.", "不扣费：获取已完成任务的结果免费。"),
    "priceLocal": Text("Runs locally: no charge.", "本地运行：不扣费。"),
    "pricePerImage": Text("≈ {price} per image (estimate from {samples} earlier tasks)",
                          "≈ 每张 {price}（根据之前 {samples} 个任务估计）"),
    "priceBatch": Text("≈ {price} per image × batch {batch} ≈ {total} (estimate)",
                       "≈ 每张 {price} × 批量 {batch} ≈ {total}（估计）"),
    "charged": Text("Charged: {amount} (from the balance the service reported)", "已扣费：{amount}（依据服务返回的余额）"),
    "chargedEstimate": Text("Charged ≈ {amount} (estimate: other tasks ran at the same time)",
                            "已扣费 ≈ {amount}（估计值：有其他任务同时运行）"),
    "chargedNone": Text("No new charge: the result was reused.", "未新增扣费：复用了已有结果。"),
    "chargedUnknown": Text("Charge not known: no earlier balance to compare with yet.",
                           "扣费暂不可知：尚无可对比的先前余额。"),
    "restored": Text("Last run, {at}", "上次运行，{at}"),
}

TASK_STATES = ("submitting", "pending", "done", "failed", "uncertain")
