//! Grafana's units: a value as a panel shows it, by the unit ids of Grafana's unit
//! catalogue (`none`, `bytes`, `bps`, `celsius`, `bool_yes_no`, `dtdhms`, ...) and its
//! custom units (`suffix:X`, `prefix:X`, `si:X`, `count:X`, `currency:X`, `time:FMT`,
//! `bool:T/F`).
//!
//! The rules are Grafana's (`packages/grafana-data/src/valueFormats/`), learnt from its
//! source and tests: automatic decimals (three significant digits, none for integers),
//! SI and IEC prefixes chosen by the logarithm of the value and clamped to the largest
//! prefix (`1.00 EiB`, never `16384 PiB`), plurals of scaled time units, and "∞" for
//! infinities. The ids this module knows are listed in `field-support.json`, which
//! `skywatch check dashboards` reads too.

import support from "./field-support.json";

/** A formatted value in its parts, as Grafana's `FormattedValue`. */
export interface Formatted {
  prefix?: string;
  text: string;
  suffix?: string;
}

type Formatter = (v: number, decimals?: number) => Formatted;

/** Grafana's `toFixed`: `decimals` digits, or automatic ones (see `autoDecimals`). */
export function toFixed(value: number, decimals?: number): string {
  if (value === Infinity || value === -Infinity) return value.toLocaleString();
  const digits = decimals ?? autoDecimals(value);
  if (value === 0) return value.toFixed(Math.max(0, digits));
  const factor = digits ? Math.pow(10, Math.max(0, digits)) : 1;
  const formatted = String(Math.round(value * factor) / factor);
  if (formatted.includes("e")) return formatted;
  const dot = formatted.indexOf(".");
  const precision = dot === -1 ? 0 : formatted.length - dot - 1;
  if (precision < digits) return (precision ? formatted : formatted + ".") + String(factor).slice(1, digits - precision + 1);
  return formatted;
}

/** Grafana's automatic decimals: none for an integer, else enough for three significant
 * digits (`1/3` → `0.333`, `27.4` → `27.4`, `100.4` → `100`). */
export function autoDecimals(value: number): number {
  if (value % 1 === 0) return 0;
  const magnitude = Math.floor(Math.log10(Math.abs(value)));
  // Grafana's norm is always above 2.25 here, which adds the third digit.
  return Math.max(0, 2 - magnitude);
}

const fixedUnit =
  (unit: string, asPrefix = false): Formatter =>
  (v, d) => {
    const text = toFixed(v, d);
    if (!unit) return { text };
    return asPrefix ? { text, prefix: unit } : { text, suffix: " " + unit };
  };

/** Divides by `factor` as often as the value's size asks, within `ext` (whose entry
 * `offset` is the unscaled one), as Grafana's `scaledUnits`. */
function scaledUnits(factor: number, ext: string[], offset = 0): Formatter {
  return (v, d) => {
    if (!Number.isFinite(v)) return { text: v.toLocaleString() };
    let index = v === 0 ? 0 : Math.floor(Math.log(Math.abs(v)) / Math.log(factor));
    // Guards the logarithm's rounding: 1024^6 is exactly one EiB.
    if (v !== 0 && Math.abs(v) / Math.pow(factor, index + 1) >= 1) index++;
    if (v !== 0 && Math.abs(v) / Math.pow(factor, index) < 1) index--;
    const step = clamp(index, -offset, ext.length - offset - 1);
    return { text: toFixed(v / Math.pow(factor, step), d), suffix: ext[clamp(offset + index, 0, ext.length - 1)] };
  };
}

function clamp(x: number, lo: number, hi: number): number {
  return Math.min(Math.max(x, lo), hi);
}

const SI = ["f", "p", "n", "µ", "m", "", "k", "M", "G", "T", "P", "E", "Z", "Y"];
const SI_BASE = SI.indexOf("");
const IEC = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"];

/** `unit` with SI prefixes, the value already in prefix `offset` (kW is `watt`, 1). */
const siPrefix = (unit: string, offset = 0): Formatter =>
  scaledUnits(
    1000,
    SI.map((p) => ` ${p}${unit}`),
    SI_BASE + offset,
  );
/** `unit` with IEC prefixes (KiB, MiB, ... YiB). */
const binaryPrefix = (unit: string, offset = 0): Formatter =>
  scaledUnits(
    1024,
    IEC.map((p) => ` ${p}${unit}`),
    offset,
  );

const countUnit = (symbol: string): Formatter => {
  const scaler = scaledUnits(1000, ["", "K", "M", "B", "T"]);
  return (v, d) => {
    const f = scaler(v, d);
    return { ...f, suffix: `${f.suffix ?? ""} ${symbol}` };
  };
};

const currency = (symbol: string, asSuffix = false): Formatter => {
  const scaler = scaledUnits(1000, ["", "K", "M", "B", "T"]);
  return (v, d) => {
    const f = scaler(Math.abs(v), d);
    const out: Formatted = asSuffix ? { text: f.text, suffix: `${f.suffix ?? ""}${symbol}` } : { text: f.text, prefix: symbol, suffix: f.suffix };
    if (v < 0) out.prefix = `-${out.prefix ?? ""}`;
    return out;
  };
};

const bool =
  (yes: string, no: string): Formatter =>
  (v) => ({ text: v ? yes : no });

// Time: each unit moves to the next larger one at its size, as Grafana's.
const PLURAL = new Set([" min", " hour", " day", " week", " year"]);
function scaledTime(v: number, d: number | undefined, suffix: string): Formatted {
  return { text: toFixed(v, d), suffix: Math.abs(v) > 1 && PLURAL.has(suffix) ? `${suffix}s` : suffix };
}

/** A ladder of `[below, divisor, suffix]`: the first rung whose bound exceeds the value. */
function ladder(rungs: [number, number, string][], last: [number, string]): Formatter {
  return (v, d) => {
    const a = Math.abs(v);
    for (const [i, [below, divisor, suffix]] of rungs.entries()) {
      if (a < below) return i === 0 ? { text: toFixed(v / divisor, d), suffix } : scaledTime(v / divisor, d, suffix);
    }
    return scaledTime(v / last[0], d, last[1]);
  };
}

const nanoseconds = ladder(
  [
    [1e3, 1, " ns"],
    [1e6, 1e3, " µs"],
    [1e9, 1e6, " ms"],
    [6e10, 1e9, " s"],
    [3.6e12, 6e10, " min"],
    [8.64e13, 3.6e12, " hour"],
  ],
  [8.64e13, " day"],
);
const microseconds = ladder(
  [
    [1e3, 1, " µs"],
    [1e6, 1e3, " ms"],
  ],
  [1e6, " s"],
);
const milliseconds = ladder(
  [
    [1e3, 1, " ms"],
    [6e4, 1e3, " s"],
    [3.6e6, 6e4, " min"],
    [8.64e7, 3.6e6, " hour"],
    [3.1536e10, 8.64e7, " day"],
  ],
  [3.1536e10, " year"],
);
const minutes = ladder(
  [
    [60, 1, " min"],
    [1440, 60, " hour"],
    [10080, 1440, " day"],
    [604800, 10080, " week"],
  ],
  [5.25948e5, " year"],
);
const hours = ladder(
  [
    [24, 1, " hour"],
    [168, 24, " day"],
    [8760, 168, " week"],
  ],
  [8760, " year"],
);
const days = ladder(
  [
    [7, 1, " day"],
    [365, 7, " week"],
  ],
  [365, " year"],
);

function seconds(v: number, d?: number): Formatted {
  if (v === 0) return { text: "0", suffix: " s" };
  const a = Math.abs(v);
  if (a < 1e-6) return scaledTime(v * 1e9, d, " ns");
  if (a < 1e-3) return scaledTime(v * 1e6, d, " µs");
  if (a < 1) return scaledTime(v * 1e3, d, " ms");
  if (a < 60) return { text: toFixed(v, d), suffix: " s" };
  if (a < 3600) return scaledTime(v / 60, d, " min");
  if (a < 86400) return scaledTime(v / 3600, d, " hour");
  if (a < 604800) return scaledTime(v / 86400, d, " day");
  if (a < 31536000) return scaledTime(v / 604800, d, " week");
  return scaledTime(v / 3.15569e7, d, " year");
}

const INTERVALS: [string, number][] = [
  ["year", 31536000],
  ["month", 2592000],
  ["week", 604800],
  ["day", 86400],
  ["hour", 3600],
  ["minute", 60],
  ["second", 1],
  ["millisecond", 0.001],
];

/** "1 year, 2 months": the largest unit, then `decimals` more (Grafana's `toDuration`). */
function duration(v: number, d: number | undefined, scale: number, name: string): Formatted {
  if (v === 0) return { text: "0", suffix: ` ${name}s` };
  if (v < 0) {
    const f = duration(-v, d, scale, name);
    return { ...f, suffix: `${f.suffix ?? ""} ago` };
  }
  // In milliseconds, to keep floating point errors small.
  let rest = v * scale * 1000;
  const parts: string[] = [];
  let left = d ?? 0;
  let started = false;
  for (const [unit, secs] of INTERVALS) {
    if (left < 0) break;
    const size = secs * 1000;
    const n = rest / size;
    if (n >= 1 || started) {
      started = true;
      const whole = Math.floor(n);
      parts.push(`${whole} ${unit}${whole !== 1 ? "s" : ""}`);
      rest %= size;
      left--;
    }
  }
  return { text: parts.join(", ") };
}

const pad2 = (n: number) => String(n).padStart(2, "0");

function hms(v: number): Formatted {
  if (v < 0) {
    const f = hms(-v);
    return { ...f, suffix: " ago" };
  }
  return { text: [Math.floor(v / 3600), Math.floor((v % 3600) / 60), Math.floor(v % 60)].map(pad2).join(":") };
}

function dhms(v: number): Formatted {
  if (v < 0) {
    const f = dhms(-v);
    return { ...f, suffix: " ago" };
  }
  const whole = Math.floor(v / 86400);
  return { text: (whole > 0 ? `${whole} d ` : "") + hms(v - whole * 86400).text };
}

/** "1h:59m:59s:999ms", fewer parts with `decimals` (Grafana's `toClock`), from ms. */
function clock(ms: number, d?: number): Formatted {
  const t = new Date(ms);
  const [h, m, s, sss] = [Math.floor(ms / 3600000), t.getUTCMinutes(), t.getUTCSeconds(), String(t.getUTCMilliseconds()).padStart(3, "0")];
  if (ms < 1000) return { text: `${sss}ms` };
  if (ms < 60000) return { text: d === 0 ? `${pad2(s)}s` : `${pad2(s)}s:${sss}ms` };
  if (ms < 3600000) return { text: d === 0 ? `${pad2(m)}m` : d === 1 ? `${pad2(m)}m:${pad2(s)}s` : `${pad2(m)}m:${pad2(s)}s:${sss}ms` };
  const rest = d === 0 ? "" : d === 1 ? `:${pad2(m)}m` : d === 2 ? `:${pad2(m)}m:${pad2(s)}s` : `:${pad2(m)}m:${pad2(s)}s:${sss}ms`;
  return { text: `${pad2(h)}h${rest}` };
}

const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
const WEEKDAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

/** A time (ms since the epoch) in the browser's zone, by a moment.js pattern (the tokens
 * Grafana's date units and `time:` patterns use; `[text]` is literal). */
export function formatDate(ms: number, pattern: string): string {
  const t = new Date(ms);
  const [Y, M, D, H, m, s, S, w] = [t.getFullYear(), t.getMonth(), t.getDate(), t.getHours(), t.getMinutes(), t.getSeconds(), t.getMilliseconds(), t.getDay()];
  const offset = -t.getTimezoneOffset();
  const zone = (sep: string) => `${offset < 0 ? "-" : "+"}${pad2(Math.floor(Math.abs(offset) / 60))}${sep}${pad2(Math.abs(offset) % 60)}`;
  const h12 = H % 12 || 12;
  const tokens: Record<string, () => string> = {
    YYYY: () => String(Y),
    YY: () => pad2(Y % 100),
    MMMM: () => MONTHS[M],
    MMM: () => MONTHS[M].slice(0, 3),
    MM: () => pad2(M + 1),
    M: () => String(M + 1),
    DD: () => pad2(D),
    D: () => String(D),
    dddd: () => WEEKDAYS[w],
    ddd: () => WEEKDAYS[w].slice(0, 3),
    HH: () => pad2(H),
    H: () => String(H),
    hh: () => pad2(h12),
    h: () => String(h12),
    mm: () => pad2(m),
    m: () => String(m),
    ss: () => pad2(s),
    s: () => String(s),
    SSS: () => String(S).padStart(3, "0"),
    A: () => (H < 12 ? "AM" : "PM"),
    a: () => (H < 12 ? "am" : "pm"),
    ZZ: () => zone(""),
    Z: () => zone(":"),
    X: () => String(Math.floor(ms / 1000)),
    x: () => String(ms),
  };
  return pattern.replace(/\[([^\]]*)\]|YYYY|YY|MMMM|MMM|MM|M|DD|D|dddd|ddd|HH|H|hh|h|mm|m|ss|s|SSS|A|a|ZZ|Z|X|x/g, (tok, literal) =>
    literal !== undefined ? literal : tokens[tok](),
  );
}

const sameDay = (a: Date, b: Date) => a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
const dateUnit =
  (pattern: string, today?: string): Formatter =>
  (v) => ({ text: formatDate(v, today && sameDay(new Date(v), new Date()) ? today : pattern) });

const localDate =
  (withDate: boolean): Formatter =>
  (v) => {
    const time: Intl.DateTimeFormatOptions = { hour: "2-digit", minute: "2-digit", second: "2-digit" };
    const showDate = withDate || !sameDay(new Date(v), new Date());
    return { text: new Date(v).toLocaleString(undefined, showDate ? { year: "numeric", month: "2-digit", day: "2-digit", ...time } : time) };
  };

/** moment's `fromNow`: "a few seconds ago", "2 minutes ago", "in 3 days". */
export function fromNow(ms: number, now = Date.now()): string {
  const secs = Math.round(Math.abs(now - ms) / 1000);
  const mins = Math.round(secs / 60);
  const hrs = Math.round(mins / 60);
  const dys = Math.round(hrs / 24);
  const months = Math.round(dys / 30.4375);
  const years = Math.round(dys / 365.25);
  let text: string;
  if (secs < 45) text = "a few seconds";
  else if (secs < 90) text = "a minute";
  else if (mins < 45) text = `${mins} minutes`;
  else if (mins < 90) text = "an hour";
  else if (hrs < 22) text = `${hrs} hours`;
  else if (hrs < 36) text = "a day";
  else if (dys < 26) text = `${dys} days`;
  else if (dys < 45) text = "a month";
  else if (dys < 320) text = `${months} months`;
  else if (dys < 548) text = "a year";
  else text = `${years} years`;
  return ms <= now ? `${text} ago` : `in ${text}`;
}

function hex(v: number, d?: number): Formatted {
  return { text: parseFloat(toFixed(v, d)).toString(16).toUpperCase() };
}

/** Grafana's unit catalogue, by category, in Grafana's order. */
export const UNIT_CATEGORIES: { name: string; units: Record<string, Formatter> }[] = [
  {
    name: "Misc",
    units: {
      none: fixedUnit(""),
      string: (v) => ({ text: `${v}` }),
      short: scaledUnits(1000, ["", " K", " Mil", " Bil", " Tri", " Quadr", " Quint", " Sext", " Sept"]),
      percent: (v, d) => ({ text: toFixed(v, d), suffix: "%" }),
      percentunit: (v, d) => ({ text: toFixed(100 * v, d), suffix: "%" }),
      humidity: fixedUnit("%H"),
      dB: fixedUnit("dB"),
      hex0x: (v, d) => {
        const t = hex(v, d).text;
        return { text: t.startsWith("-") ? `-0x${t.slice(1)}` : `0x${t}` };
      },
      hex,
      sci: (v, d) => ({ text: v.toExponential(d) }),
      locale: (v, d) => ({ text: v.toLocaleString(undefined, { maximumFractionDigits: d }) }),
      pixel: fixedUnit("px"),
    },
  },
  { name: "Acceleration", units: { accMS2: fixedUnit("m/sec²"), accFS2: fixedUnit("f/sec²"), accG: fixedUnit("g") } },
  {
    name: "Angle",
    units: { degree: fixedUnit("°"), radian: fixedUnit("rad"), grad: fixedUnit("grad"), arcmin: fixedUnit("arcmin"), arcsec: fixedUnit("arcsec") },
  },
  { name: "Area", units: { areaM2: fixedUnit("m²"), areaF2: fixedUnit("ft²"), areaMI2: fixedUnit("mi²") } },
  {
    name: "Computation",
    units: Object.fromEntries(["flops", "mflops", "gflops", "tflops", "pflops", "eflops", "zflops", "yflops"].map((id, i) => [id, siPrefix("FLOPS", i === 0 ? 0 : i + 1)])),
  },
  {
    name: "Concentration",
    units: {
      ppm: fixedUnit("ppm"),
      conppb: fixedUnit("ppb"),
      conngm3: fixedUnit("ng/m³"),
      conngNm3: fixedUnit("ng/Nm³"),
      conμgm3: fixedUnit("μg/m³"),
      conμgNm3: fixedUnit("μg/Nm³"),
      conmgm3: fixedUnit("mg/m³"),
      conmgNm3: fixedUnit("mg/Nm³"),
      congm3: fixedUnit("g/m³"),
      congNm3: fixedUnit("g/Nm³"),
      conmgdL: fixedUnit("mg/dL"),
      conmmolL: fixedUnit("mmol/L"),
    },
  },
  {
    name: "Currency",
    units: {
      currencyUSD: currency("$"),
      currencyGBP: currency("£"),
      currencyEUR: currency("€"),
      currencyJPY: currency("¥"),
      currencyRUB: currency("₽"),
      currencyUAH: currency("₴"),
      currencyBRL: currency("R$"),
      currencyDKK: currency("kr", true),
      currencyISK: currency("kr", true),
      currencyNOK: currency("kr", true),
      currencySEK: currency("kr", true),
      currencyCZK: currency("czk"),
      currencyCHF: currency("CHF"),
      currencyPLN: currency("PLN"),
      currencyBTC: currency("฿"),
      currencymBTC: currency("mBTC"),
      currencyμBTC: currency("μBTC"),
      currencyZAR: currency("R"),
      currencyINR: currency("₹"),
      currencyKRW: currency("₩"),
      currencyIDR: currency("Rp"),
      currencyPHP: currency("PHP"),
      currencyVND: currency("đ", true),
      currencyTRY: currency("₺", true),
    },
  },
  {
    name: "Data",
    units: {
      bytes: binaryPrefix("B"),
      decbytes: siPrefix("B"),
      bits: binaryPrefix("b"),
      decbits: siPrefix("b"),
      kbytes: binaryPrefix("B", 1),
      deckbytes: siPrefix("B", 1),
      mbytes: binaryPrefix("B", 2),
      decmbytes: siPrefix("B", 2),
      gbytes: binaryPrefix("B", 3),
      decgbytes: siPrefix("B", 3),
      tbytes: binaryPrefix("B", 4),
      dectbytes: siPrefix("B", 4),
      pbytes: binaryPrefix("B", 5),
      decpbytes: siPrefix("B", 5),
    },
  },
  {
    name: "Data rate",
    units: {
      pps: siPrefix("p/s"),
      binBps: binaryPrefix("B/s"),
      Bps: siPrefix("B/s"),
      binbps: binaryPrefix("b/s"),
      bps: siPrefix("b/s"),
      KiBs: binaryPrefix("B/s", 1),
      Kibits: binaryPrefix("b/s", 1),
      KBs: siPrefix("B/s", 1),
      Kbits: siPrefix("b/s", 1),
      MiBs: binaryPrefix("B/s", 2),
      Mibits: binaryPrefix("b/s", 2),
      MBs: siPrefix("B/s", 2),
      Mbits: siPrefix("b/s", 2),
      GiBs: binaryPrefix("B/s", 3),
      Gibits: binaryPrefix("b/s", 3),
      GBs: siPrefix("B/s", 3),
      Gbits: siPrefix("b/s", 3),
      TiBs: binaryPrefix("B/s", 4),
      Tibits: binaryPrefix("b/s", 4),
      TBs: siPrefix("B/s", 4),
      Tbits: siPrefix("b/s", 4),
      PiBs: binaryPrefix("B/s", 5),
      Pibits: binaryPrefix("b/s", 5),
      PBs: siPrefix("B/s", 5),
      Pbits: siPrefix("b/s", 5),
    },
  },
  {
    name: "Date & time",
    units: {
      dateTimeAsIso: dateUnit("YYYY-MM-DD HH:mm:ss"),
      dateTimeAsIsoNoDateIfToday: dateUnit("YYYY-MM-DD HH:mm:ss", "HH:mm:ss"),
      dateTimeAsUS: dateUnit("MM/DD/YYYY h:mm:ss a"),
      dateTimeAsUSNoDateIfToday: dateUnit("MM/DD/YYYY h:mm:ss a", "h:mm:ss a"),
      dateTimeAsLocal: localDate(true),
      dateTimeAsLocalNoDateIfToday: localDate(false),
      dateTimeAsSystem: dateUnit("YYYY-MM-DD HH:mm:ss"),
      dateTimeFromNow: (v) => ({ text: fromNow(v) }),
    },
  },
  {
    name: "Energy",
    units: {
      watt: siPrefix("W"),
      kwatt: siPrefix("W", 1),
      megwatt: siPrefix("W", 2),
      gwatt: siPrefix("W", 3),
      mwatt: siPrefix("W", -1),
      Wm2: fixedUnit("W/m²"),
      voltamp: siPrefix("VA"),
      kvoltamp: siPrefix("VA", 1),
      voltampreact: siPrefix("VAr"),
      kvoltampreact: siPrefix("VAr", 1),
      watth: siPrefix("Wh"),
      watthperkg: siPrefix("Wh/kg"),
      kwatth: siPrefix("Wh", 1),
      kwattm: siPrefix("W-Min", 1),
      amph: siPrefix("Ah"),
      kamph: siPrefix("Ah", 1),
      mamph: siPrefix("Ah", -1),
      joule: siPrefix("J"),
      ev: siPrefix("eV"),
      amp: siPrefix("A"),
      kamp: siPrefix("A", 1),
      mamp: siPrefix("A", -1),
      volt: siPrefix("V"),
      kvolt: siPrefix("V", 1),
      mvolt: siPrefix("V", -1),
      dBm: siPrefix("dBm"),
      ohm: siPrefix("Ω"),
      kohm: siPrefix("Ω", 1),
      Mohm: siPrefix("Ω", 2),
      farad: siPrefix("F"),
      µfarad: siPrefix("F", -2),
      nfarad: siPrefix("F", -3),
      pfarad: siPrefix("F", -4),
      ffarad: siPrefix("F", -5),
      henry: siPrefix("H"),
      mhenry: siPrefix("H", -1),
      µhenry: siPrefix("H", -2),
      lumens: siPrefix("Lm"),
    },
  },
  {
    name: "Flow",
    units: {
      flowgpm: fixedUnit("gpm"),
      flowcms: fixedUnit("cms"),
      flowcfs: fixedUnit("cfs"),
      flowcfm: fixedUnit("cfm"),
      litreh: fixedUnit("L/h"),
      flowlpm: fixedUnit("L/min"),
      flowmlpm: fixedUnit("mL/min"),
      lux: fixedUnit("lux"),
    },
  },
  { name: "Force", units: { forceNm: siPrefix("Nm"), forcekNm: siPrefix("Nm", 1), forceN: siPrefix("N"), forcekN: siPrefix("N", 1) } },
  {
    name: "Hash rate",
    units: Object.fromEntries(["Hs", "KHs", "MHs", "GHs", "THs", "PHs", "EHs"].map((id, i) => [id, siPrefix("H/s", i)])),
  },
  { name: "Mass", units: { massmg: siPrefix("g", -1), massg: siPrefix("g"), masslb: fixedUnit("lb"), masskg: siPrefix("g", 1), masst: fixedUnit("t") } },
  {
    name: "Length",
    units: { lengthmm: siPrefix("m", -1), lengthin: fixedUnit("in"), lengthft: fixedUnit("ft"), lengthm: siPrefix("m"), lengthkm: siPrefix("m", 1), lengthmi: fixedUnit("mi") },
  },
  {
    name: "Pressure",
    units: {
      pressurembar: siPrefix("bar", -1),
      pressurebar: siPrefix("bar"),
      pressurekbar: siPrefix("bar", 1),
      pressurepa: siPrefix("Pa"),
      pressurehpa: fixedUnit("hPa"),
      pressurekpa: fixedUnit("kPa"),
      pressurehg: fixedUnit('"Hg'),
      pressurepsi: scaledUnits(1000, ["psi", "ksi", "Mpsi"]),
    },
  },
  {
    name: "Radiation",
    units: {
      radbq: siPrefix("Bq"),
      radci: siPrefix("Ci"),
      radgy: siPrefix("Gy"),
      radrad: siPrefix("rad"),
      radsv: siPrefix("Sv"),
      radmsv: siPrefix("Sv", -1),
      radusv: siPrefix("Sv", -2),
      radrem: siPrefix("rem"),
      radexpckg: siPrefix("C/kg"),
      radr: siPrefix("R"),
      radsvh: siPrefix("Sv/h"),
      radmsvh: siPrefix("Sv/h", -1),
      radusvh: siPrefix("Sv/h", -2),
    },
  },
  { name: "Rotational Speed", units: { rotrpm: fixedUnit("rpm"), rothz: siPrefix("Hz"), rotrads: fixedUnit("rad/s"), rotdegs: fixedUnit("°/s") } },
  { name: "Temperature", units: { celsius: fixedUnit("°C"), fahrenheit: fixedUnit("°F"), kelvin: fixedUnit("K") } },
  {
    name: "Time",
    units: {
      hertz: siPrefix("Hz"),
      ns: nanoseconds,
      µs: microseconds,
      ms: milliseconds,
      s: seconds,
      m: minutes,
      h: hours,
      d: days,
      dtdurationms: (v, d) => duration(v, d, 0.001, "millisecond"),
      dtdurations: (v, d) => duration(v, d, 1, "second"),
      dthms: hms,
      dtdhms: dhms,
      timeticks: (v, d) => seconds(v / 100, d),
      clockms: clock,
      clocks: (v, d) => clock(v * 1000, d),
    },
  },
  {
    name: "Throughput",
    units: {
      cps: countUnit("c/s"),
      ops: countUnit("ops/s"),
      reqps: countUnit("req/s"),
      rps: countUnit("rd/s"),
      wps: countUnit("wr/s"),
      iops: countUnit("io/s"),
      eps: countUnit("evt/s"),
      mps: countUnit("msg/s"),
      recps: countUnit("rec/s"),
      rowsps: countUnit("rows/s"),
      cpm: countUnit("c/m"),
      opm: countUnit("ops/m"),
      reqpm: countUnit("req/m"),
      rpm: countUnit("rd/m"),
      wpm: countUnit("wr/m"),
      epm: countUnit("evts/m"),
      mpm: countUnit("msgs/m"),
      recpm: countUnit("rec/m"),
      rowspm: countUnit("rows/m"),
    },
  },
  { name: "Velocity", units: { velocityms: fixedUnit("m/s"), velocitykmh: fixedUnit("km/h"), velocitymph: fixedUnit("mph"), velocityknot: fixedUnit("kn") } },
  {
    name: "Volume",
    units: { mlitre: siPrefix("L", -1), litre: siPrefix("L"), m3: fixedUnit("m³"), Nm3: fixedUnit("Nm³"), dm3: fixedUnit("dm³"), gallons: fixedUnit("gal") },
  },
  { name: "Boolean", units: { bool: bool("True", "False"), bool_yes_no: bool("Yes", "No"), bool_on_off: bool("On", "Off") } },
];

const INDEX: Record<string, Formatter> = Object.assign({}, ...UNIT_CATEGORIES.map((c) => c.units));
// An old id Grafana still resolves.
INDEX.farenheit = INDEX.fahrenheit;

/** The custom units, by the text before their colon. */
const CUSTOM: Record<string, (rest: string) => Formatter> = {
  prefix: (s) => fixedUnit(s, true),
  suffix: (s) => fixedUnit(s),
  time: (s) => (v) => ({ text: formatDate(v, s) }),
  si: (s) => {
    const i = SI.indexOf(s.charAt(0).normalize("NFKD") === "μ" ? "µ" : s.charAt(0));
    const offset = i >= 0 ? i - SI_BASE : 0;
    return siPrefix(offset === 0 ? s : s.slice(1), offset);
  },
  count: (s) => countUnit(s),
  currency: (s) => {
    const [kind, symbol, place] = s.split(":");
    if (kind === "financial" && symbol !== undefined) {
      if (!symbol) return fixedUnit("");
      return (v, d) => {
        const text = v.toLocaleString(undefined, d === undefined ? { maximumFractionDigits: 1 } : { minimumFractionDigits: d, maximumFractionDigits: d });
        return place === "suffix" ? { text, suffix: symbol } : { text, prefix: symbol };
      };
    }
    return currency(s);
  },
  bool: (s) => {
    const slash = s.indexOf("/");
    return slash >= 0 ? bool(s.slice(0, slash), s.slice(slash + 1)) : bool(s, "-");
  },
};

/** The formatter of a unit id: a catalogue unit, a custom unit, or any other text as a
 * suffix (as Grafana: an unknown `req` shows "3 req"). */
function formatterOf(unit: string | undefined): Formatter {
  if (!unit) return INDEX.none;
  const known = INDEX[unit];
  if (known) return known;
  const colon = unit.indexOf(":");
  if (colon > 0) {
    const custom = CUSTOM[unit.slice(0, colon)];
    if (custom) return custom(unit.slice(colon + 1));
  }
  return fixedUnit(unit);
}

/** `v` in `unit` in its parts; `decimals` if given, Grafana's automatic ones otherwise. */
export function formatParts(v: number, unit?: string, decimals?: number | null): Formatted {
  return formatterOf(unit)(v, decimals ?? undefined);
}

/** `v` in `unit` (Grafana's unit ids), with `decimals` if given; "No data" for no value. */
export function formatValue(v: number | null | undefined, unit?: string, decimals?: number | null): string {
  if (v === null || v === undefined) return "No data";
  if (Number.isNaN(v) && !isBooleanUnit(unit)) return "NaN";
  const f = formatParts(v, unit, decimals);
  return `${f.prefix ?? ""}${f.text}${f.suffix ?? ""}`;
}

/** Whether `unit` shows true and false rather than numbers. */
export function isBooleanUnit(unit: string | undefined): boolean {
  return !!unit && unit.startsWith("bool");
}

/** The unit ids Skywatch formats as Grafana does, and the custom-unit prefixes. */
export const SUPPORTED_UNITS: readonly string[] = support.units;
export const CUSTOM_UNIT_PREFIXES: readonly string[] = support.customUnitPrefixes;

/** Whether Skywatch shows `unit` as Grafana does: a catalogue id (or an alias), or a
 * custom unit with a known prefix. Anything else Grafana shows as a suffix, and so does
 * Skywatch, but a dashboard check warns about it, as it is most likely a typo. */
export function isSupportedUnit(unit: string | undefined): boolean {
  if (!unit) return true;
  return unit in INDEX || CUSTOM_UNIT_PREFIXES.some((p) => unit.startsWith(p));
}

/** Every catalogue id, in the catalogue's order (for the support file's test). */
export function catalogueIds(): string[] {
  return UNIT_CATEGORIES.flatMap((c) => Object.keys(c.units));
}

/** Axis tick labels: Grafana's automatic decimals, trailing zeros trimmed where the text
 * is a plain number ("0.5", "1", "1.5 kb/s", not "0.500", "1", "1.50 kb/s"), as Grafana
 * trims them on axes. Explicit `decimals` are kept as given. */
export function formatTicks(splits: number[], unit?: string, decimals?: number | null): string[] {
  return splits.map((v) => {
    if (decimals != null) return formatValue(v, unit, decimals);
    const f = formatParts(v, unit);
    const text = /^-?\d+\.\d*$/.test(f.text) ? String(Number(f.text)) : f.text;
    return `${f.prefix ?? ""}${text}${f.suffix ?? ""}`;
  });
}
