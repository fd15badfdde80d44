"""What `hdredraw run` tells its user: each input's outcome, the dry-run plan and the closing summary."""

from __future__ import annotations

import dataclasses
import time

from . import prices
from .cli_inputs import (
    DONE_NEW,
    FAILED_,
    NOT_STARTED,
    PENDING_,
    RESUMED,
    REUSED,
    UNCERTAIN_,
    Item,
)
from .cli_texts import _balance_change, _balance_text, _conflict_text, _join, _written_text
from .console import elapsed_text
from .text import Text

_STATUS = {DONE_NEW: Text("done", "完成"), RESUMED: Text("resumed", "继续完成"), REUSED: Text("reused", "复用"),
           FAILED_: Text("failed", "失败"), UNCERTAIN_: Text("uncertain", "不确定"),
           PENDING_: Text("pending", "未完成"), NOT_STARTED: Text("not started", "未开始")}
_MARK = {DONE_NEW: "+", RESUMED: "+", REUSED: "=", FAILED_: "x", UNCERTAIN_: "?", PENDING_: "…"}


class RunReport:
    """The reporting half of `cli_run.Run` (it reads the run's items, options and output helpers)."""

    def dry_run(self) -> int:
        lang = self.lang
        what = {
            "new": Text("new task (paid)", "新任务(付费)"),
            "reuse": Text("reuse the finished task {t} (no charge)", "复用已完成的任务 {t}(不扣费)"),
            "resume": Text("resume task {t}, submitted earlier (no charge)", "继续之前提交的任务 {t}(不扣费)"),
            "uncertain": Text("not sent: an earlier attempt may have been charged (change --variation to submit "
                              "anew)", "不发送:之前的请求可能已扣费(如需重新提交请修改 --variation)"),
            "copy": Text("same image and settings as {f}: shares its task (no charge)",
                         "与 {f} 的图片和参数相同:共用其任务(不扣费)"),
        }
        self.say(Text(f"Dry run: {self.op.id} on {len(self.items)} input(s); nothing is sent.",
                      f"试运行:对 {len(self.items)} 个输入执行 {self.op.id};不发送任何请求。"))
        for item in self.items:
            text = what[item.plan].get(lang).format(t=item.known_task or "?", f=self.items[item.first].label)
            target = (self.out / item.stem).as_posix()
            self.say(f"  {item.label} -> {target}.*: {text}")
            self.record({"type": "plan", "input": str(item.path), "plan": item.plan, "task_id": item.known_task,
                         "same_as": str(self.items[item.first].path) if item.plan == "copy" else None,
                         "output": target, "notes": [n.get(lang) for n in item.notes]})
        entries = self.entries()
        cost = self.cost(entries)
        balance = prices.last_balance(entries, self.op.service)
        self.say(Text("Would submit: ", "将提交:").get(lang) + cost.text(lang))
        if balance is not None:
            self.say(_balance_text(balance, lang))
        cap = self.settings.max_new_tasks
        if self.new_count > cap:
            self.say(Text(f"The spend guard allows {cap} new task(s) per command: run with --max-new-tasks "
                          f"{self.new_count}.", f"消费保护每条命令最多新建 {cap} 个任务:请加 --max-new-tasks "
                          f"{self.new_count} 运行。"))
        clashes = self.output_conflicts()
        if clashes:
            self.say(_conflict_text(clashes, dry=True).get(lang))
        self.record({"type": "summary", "dry_run": True, "inputs": len(self.items), "new_tasks": self.new_count,
                     "estimate": cost.text("en"), "price_known": cost.price.known,
                     "conflicts": [str(p) for p in clashes]})
        return 0

    # ------------------------------------------------------------------ phase 2: run

    def _report(self, item: Item) -> None:
        lang = self.lang
        if self.display is not None:
            self.display.finished(item.index, _STATUS[item.status].get(lang))
        if item.status == NOT_STARTED:
            return
        head = f"{_MARK.get(item.status, '-')} {item.label}: {_STATUS[item.status].get(lang)}"
        if item.task_id:
            head += f" · {'任务' if lang == 'zh' else 'task'} {item.task_id}"
        if item.written:
            head += " -> " + ", ".join(_written_text(w, lang) for w in item.written)
        lines = [head]
        if item.error is not None:
            lines.append("    " + item.error.message(lang).replace("\n", "\n    "))
        for note in [*item.notes, *item.result_notes]:
            lines.append("    " + note.get(lang))
        self.say("\n".join(lines))
        self.record({
            "type": "task", "input": str(item.path), "status": item.status, "task_id": item.task_id,
            "paid": item.paid, "same_as": str(self.items[item.first].path) if item.first != item.index else None,
            "outputs": [str(w.path) for w in item.written],
            "files": [{"path": str(w.path), "action": w.action, "instead_of": str(w.instead_of) if w.instead_of
                       else None} for w in item.written],
            "seconds": round(item.seconds, 2),
            "notes": [n.get(lang) for n in [*item.notes, *item.result_notes]],
            "error": None if item.error is None else {"code": item.error.code, "en": item.error.en,
                                                      "zh": item.error.zh, "free": item.error.free},
        })

    # ------------------------------------------------------------------ Ctrl-C

    def summary(self, interrupted: bool) -> None:
        lang = self.lang
        counts = {s: sum(1 for it in self.items if it.status == s) for s in _STATUS}
        entries = self.entries()
        balance_after = prices.last_balance(entries, self.op.service)
        new_paid = sum(1 for it in self.items if it.paid)
        took = elapsed_text(time.monotonic() - self.started, lang)
        parts = [f"{_STATUS[s].get(lang)} {n}" for s, n in counts.items() if n or s in (DONE_NEW, REUSED,
                                                                                         FAILED_, UNCERTAIN_)]
        head = Text(f"{self.op.id}: {len(self.items)} input(s), {len(self.unique)} task(s), {took}.",
                    f"{self.op.id}:{len(self.items)} 个输入,{len(self.unique)} 个任务,用时 {took}。").get(lang)
        lines = [head, "  " + " · ".join(parts)]
        price = prices.learn(entries).get((self.op.service, self.op.id), prices.Price(self.op.service, self.op.id))
        spent = prices.cost(price, new_paid, self.balance_before)
        money = Text("  Spent: ", "  花费:").get(lang) + (spent.text(lang) if new_paid else Text(
            "no new tasks, nothing charged", "没有新任务,未扣费").get(lang))
        lines.append(money)
        if self.balance_before is not None and balance_after is not None and new_paid:
            lines.append("  " + _balance_change(self.balance_before, balance_after, lang))
        elif balance_after is not None:
            lines.append("  " + _balance_text(balance_after, lang))
        for status in (DONE_NEW, RESUMED, REUSED, PENDING_, UNCERTAIN_, FAILED_):
            ids = [it.task_id for it in self.items if it.status == status and it.task_id]
            if ids:
                unique_ids = list(dict.fromkeys(ids))
                shown = ", ".join(unique_ids[:10]) + (f" … (+{len(unique_ids) - 10})" if len(unique_ids) > 10 else "")
                lines.append(f"  {_STATUS[status].get(lang)}: {shown}")
        if interrupted or counts[PENDING_] or counts[UNCERTAIN_] or counts[NOT_STARTED]:
            lines.append(self._resume_text(counts).get(lang))
        self.say("\n".join(lines))
        self.record({"type": "summary", "inputs": len(self.items), "tasks": len(self.unique),
                     "counts": {k.replace(" ", "_"): v for k, v in counts.items()}, "new_paid_tasks": new_paid,
                     "seconds": round(time.monotonic() - self.started, 2), "spent": spent.text("en"),
                     "balance_before": None if self.balance_before is None else dataclasses.asdict(self.balance_before),
                     "balance_after": None if balance_after is None else dataclasses.asdict(balance_after),
                     "interrupted": interrupted})

    def _resume_text(self, counts: dict[str, int]) -> Text:
        command = "hdredraw " + _join(self.argv)
        pending, waiting = counts[PENDING_], counts[NOT_STARTED]
        uncertain = counts[UNCERTAIN_]
        en = [f"To resume, run the same command again:\n    {command}"]
        zh = [f"如需继续,请再次运行相同命令:\n    {command}"]
        if pending:
            en.append(f"{pending} task(s) still running on the service are picked up for free (their ids are in "
                      "the journal: `hdredraw tasks`).")
            zh.append(f"{pending} 个仍在服务端运行的任务将免费继续(任务ID已记录,见 `hdredraw tasks`)。")
        en.append("Finished results are reused at no charge.")
        zh.append("已完成的结果将直接复用,不扣费。")
        if waiting:
            en.append(f"{waiting} input(s) not started yet are submitted then.")
            zh.append(f"{waiting} 个尚未开始的输入届时提交。")
        if uncertain:
            en.append(f"{uncertain} attempt(s) may have been charged without an answer: they are not sent again "
                      "automatically; check your balance (or change --variation to submit anew).")
            zh.append(f"{uncertain} 个请求可能已扣费但未收到答复:不会自动重发;请检查余额(或修改 --variation 重新提交)。")
        return Text("  " + "\n  ".join(en), "  " + "\n  ".join(zh))
