// Money is integer fen, ratios integer basis points (万分比); shown as 元 and %.
const yuanFormat = new Intl.NumberFormat('zh-CN', {minimumFractionDigits: 2, maximumFractionDigits: 2});
const intFormat = new Intl.NumberFormat('zh-CN');

export const yuan = (fen) => (fen === null || fen === undefined ? '—' : '¥' + yuanFormat.format(fen / 100));
export const count = (n) => (n === null || n === undefined ? '—' : intFormat.format(n));
export const pct = (bp) => (bp === null || bp === undefined ? '—' : (bp / 100).toFixed(2).replace(/\.?0+$/, '') + '%');

// "12.34" → 1234: a decimal with at most two places as an exact integer of hundredths, from its
// digits (never through a float); null when it is not one or is beyond exact integers.
export function hundredthsOf(text) {
  const m = /^(-?)(\d+)(?:\.(\d{1,2}))?$/.exec(String(text).trim());
  if (!m) return null;
  const n = Number(m[2] + (m[3] || '').padEnd(2, '0'));
  if (!Number.isSafeInteger(n)) return null;
  return m[1] && n !== 0 ? -n : n;
}

// "12.5" (%) → 1250 (bp); null when it is not a number with at most two decimals.
export const bpOf = hundredthsOf;

// "12.34" (元) → 1234 (fen); null when it is not an amount with at most two decimals.
export const fenOf = hundredthsOf;

export function intOf(text) {
  const t = String(text).trim();
  return /^-?\d+$/.test(t) ? Number(t) : null;
}

// Instants in Beijing time, the service's calendar.
const timeFormat = new Intl.DateTimeFormat('zh-CN', {
  timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit',
  hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false,
});
export const when = (iso) => (iso ? timeFormat.format(new Date(iso)) : '—');

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return '无法估计';
  const days = Math.floor(seconds / 86400);
  const hours = Math.floor((seconds % 86400) / 3600);
  if (days > 0) return `约 ${days} 天 ${hours} 小时`;
  const minutes = Math.ceil((seconds % 3600) / 60);
  return hours > 0 ? `约 ${hours} 小时 ${minutes} 分` : `约 ${minutes} 分钟`;
}
