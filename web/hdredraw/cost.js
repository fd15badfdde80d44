// What a node costs, as text: the learned price before a run, the charge after it.
//
// Neither service publishes prices; the server learns them from the balance it reports after each task
// (engine/prices.py).  An estimate always says so ("≈ … (estimate)"); a charge is stated as a fact only when
// the balance moved for that node's tasks alone.
import { formatNumber } from "./dom.js";
import { DATA } from "./generated.js";
import { priceOf } from "./state.js";
import { t } from "./strings.js";

/** "1 task", "3 tasks · ¥6", "¥2": a charge or a total, in the current language. */
export function amountText({ count = 0, money = 0 } = {}) {
  const parts = [];
  if (count) parts.push(count === 1 ? t("amountTask") : t("amountTasks", { n: formatNumber(count) }));
  if (money) parts.push(t("amountMoney", { n: formatNumber(money) }));
  return parts.length ? parts.join(" · ") : t("amountNone");
}

/** Before a run: "≈ 1 task per image …", "≈ ¥2 per image × batch 4 ≈ ¥8 (estimate)", or why it is unknown. */
export function estimateText(nodeType, batch = 0) {
  const info = DATA.nodes[nodeType];
  if (!info) return "";
  if (info.local) return t("priceLocal");
  if (!info.paid) return t("priceFree");
  if (info.service !== "hdredraw") return t("priceNoBalance");
  const price = priceOf(info.op);
  if (!price || !price.samples) return t("priceUnknown");
  const per = amountText(price);
  if (batch > 1) {
    return t("priceBatch", { price: per, batch,
                             total: amountText({ count: price.count * batch, money: price.money * batch }) });
  }
  return t("pricePerImage", { price: per, samples: price.samples });
}

/** After a run: what it was charged (a fact only when exact), nothing when reused, or that it is unknown. */
export function chargedText(charged) {
  if (!charged) return "";
  if (charged.reused) return t("chargedNone");
  if (!charged.known) return t("chargedUnknown");
  const amount = amountText(charged);
  return charged.exact ? t("charged", { amount }) : t("chargedEstimate", { amount });
}
