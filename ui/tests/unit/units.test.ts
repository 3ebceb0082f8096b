// Units as Grafana shows them. Expected strings are Grafana's: from its value format tests
// (packages/grafana-data/src/valueFormats/*.test.ts) where they exist, else worked out by
// its rules (automatic decimals: none for integers, three significant digits otherwise;
// prefixes by the value's logarithm, clamped to the largest).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { UNIT_CATEGORIES, catalogueIds, formatDate, formatTicks, formatValue, fromNow, isSupportedUnit, toFixed } from "../../src/units";

type Case = [unit: string, value: number, decimals: number | undefined, expected: string];

function check(cases: Case[]) {
  for (const [unit, value, decimals, expected] of cases) {
    assert.equal(formatValue(value, unit, decimals), expected, `${value} in ${unit} with ${decimals} decimals`);
  }
}

test("Grafana's valueFormats.test.ts table", () => {
  check([
    ["currencyUSD", 1532.82, 2, "$1.53K"],
    ["currencyKRW", 1532.82, 2, "₩1.53K"],
    ["currencyIDR", 1532.82, 2, "Rp1.53K"],
    ["none", 3.23, undefined, "3.23"],
    ["none", 0.0245, undefined, "0.0245"],
    ["none", 1 / 3, undefined, "0.333"],
    ["ms", 0.0024, 4, "0.0024 ms"],
    ["ms", 100, 0, "100 ms"],
    ["ms", 1250, 2, "1.25 s"],
    // Grafana's newest formatter pluralises scaled time units (its older test said "2.8 hour").
    ["ms", 10000086.123, 1, "2.8 hours"],
    ["ms", 1000, undefined, "1 s"],
    ["ms", 1200, 0, "1 s"],
    ["short", 1000, undefined, "1 K"],
    ["short", 1200, undefined, "1.20 K"],
    ["short", 1250, undefined, "1.25 K"],
    ["short", 1000000, undefined, "1 Mil"],
    ["short", 1500000, undefined, "1.50 Mil"],
    ["short", 1000120, undefined, "1.00 Mil"],
    ["short", 98765, undefined, "98.8 K"],
    ["short", 9876543, undefined, "9.88 Mil"],
    ["kbytes", 10000000, undefined, "9.54 GiB"],
    ["deckbytes", 10000000, undefined, "10 GB"],
    ["megwatt", 1000, 3, "1.000 GW"],
    ["kohm", 1000, 3, "1.000 MΩ"],
    ["Mohm", 1000, 3, "1.000 GΩ"],
    ["farad", 1000, 3, "1.000 kF"],
    ["µfarad", 1000, 3, "1.000 mF"],
    ["nfarad", 1000, 3, "1.000 µF"],
    ["pfarad", 1000, 3, "1.000 nF"],
    ["ffarad", 1000, 3, "1.000 pF"],
    ["henry", 1000, 3, "1.000 kH"],
    ["mhenry", 1000, 3, "1.000 H"],
    ["µhenry", 1000, 3, "1.000 mH"],
    ["a", 1532.82, 0, "1533 a"],
    ["b", 1532.82, 0, "1533 b"],
    ["prefix:b", 1532.82, undefined, "b1533"],
    ["suffix:d", 1532.82, undefined, "1533 d"],
    ["si:µF", 0, 2, "0.00 µF"],
    ["si:µF", 1234, 2, "1.23 mF"],
    ["si:µF", 1234000000, 2, "1.23 kF"],
    ["si:µF", 1234000000000000, 2, "1.23 GF"],
    ["count:xpm", 1234567, 2, "1.23M xpm"],
    ["count:x/min", 1234, 2, "1.23K x/min"],
    ["currency:@", 1234567, 2, "@1.23M"],
    ["currency:@", 1234, 2, "@1.23K"],
    ["dtdurationms", 100000, undefined, "1 minute"],
  ]);
});

test("toFixed: Grafana's normal and edge cases", () => {
  const cases: [number, number | undefined, string][] = [
    [100, undefined, "100"],
    [100.4, undefined, "100"],
    [100.5, undefined, "101"],
    [27.4, undefined, "27.4"],
    [27.5, undefined, "27.5"],
    [-100, undefined, "-100"],
    [-100.5, undefined, "-100"],
    [-100.6, undefined, "-101"],
    [-27.5, undefined, "-27.5"],
    [100, 1, "100.0"],
    [100.37, 1, "100.4"],
    [100.63, 1, "100.6"],
    [100.4, 2, "100.40"],
    [0, 1, "0.0"],
    [0, 2, "0.00"],
    [186.123, -2, "186"],
    [NaN, undefined, "NaN"],
    [Infinity, undefined, Infinity.toLocaleString()],
  ];
  for (const [v, d, expected] of cases) assert.equal(toFixed(v, d), expected, `toFixed(${v}, ${d})`);
});

test("misc: percent, hex, sci, locale, string, fixed suffixes", () => {
  check([
    ["percent", 50, undefined, "50%"],
    ["percent", 33.33333, 2, "33.33%"],
    ["percentunit", 0.5, undefined, "50%"],
    ["percentunit", 33.33333, 2, "3333.33%"],
    ["hex", 100, 0, "64"],
    ["hex", -100, 0, "-64"],
    ["hex", 50.52, 1, "32.8"],
    ["hex0x", 7999, 0, "0x1F3F"],
    ["hex0x", -584, 0, "-0x248"],
    ["hex0x", -65.458, 1, "-0x41.8"],
    ["sci", 1000, 0, "1e+3"],
    ["sci", -1000, 0, "-1e+3"],
    ["sci", 1000, 2, "1.00e+3"],
    ["locale", 1234567.891, 1, (1234567.891).toLocaleString(undefined, { maximumFractionDigits: 1 })],
    ["string", 42, undefined, "42"],
    ["humidity", 45, undefined, "45 %H"],
    ["dB", -3.5, undefined, "-3.50 dB"],
    ["pixel", 12, undefined, "12 px"],
    ["none", 2000, undefined, "2000"],
  ]);
});

test("data: IEC and SI bytes and bits, up to the largest prefix", () => {
  check([
    ["bytes", 0, undefined, "0 B"],
    ["bytes", 1023, undefined, "1023 B"],
    ["bytes", 1024, undefined, "1 KiB"],
    ["bytes", 1536, undefined, "1.50 KiB"],
    ["bytes", 24 * 1024 ** 3, undefined, "24 GiB"],
    ["bytes", 1024 ** 6, undefined, "1 EiB"],
    ["bytes", 1024 ** 6, 2, "1.00 EiB"],
    ["bytes", 1024 ** 7 * 3, undefined, "3 ZiB"],
    ["bytes", 1024 ** 8, undefined, "1 YiB"],
    // Beyond the last prefix the number grows, as in Grafana.
    ["bytes", 1024 ** 9, undefined, "1024 YiB"],
    ["bytes", -2048, undefined, "-2 KiB"],
    ["decbytes", 1500, undefined, "1.50 kB"],
    ["decbytes", 1e18, undefined, "1 EB"],
    ["bits", 8192, undefined, "8 Kib"],
    ["decbits", 1e6, undefined, "1 Mb"],
    ["kbytes", 1024, undefined, "1 MiB"],
    ["mbytes", 2048, undefined, "2 GiB"],
    ["gbytes", 1.5, undefined, "1.50 GiB"],
    ["tbytes", 1024, undefined, "1 PiB"],
    ["pbytes", 1024, undefined, "1 EiB"],
    ["decmbytes", 1000, undefined, "1 GB"],
    ["decgbytes", 2.5, undefined, "2.50 GB"],
    ["dectbytes", 1000, undefined, "1 PB"],
    ["decpbytes", 1, undefined, "1 PB"],
  ]);
});

test("data rate: bits and bytes per second, SI and IEC", () => {
  check([
    ["bps", 1500, undefined, "1.50 kb/s"],
    ["bps", 1500, 1, "1.5 kb/s"],
    ["bps", 2000, undefined, "2 kb/s"],
    ["Bps", 1500000, undefined, "1.50 MB/s"],
    ["binBps", 1024, undefined, "1 KiB/s"],
    ["binbps", 3 * 1024 ** 2, undefined, "3 Mib/s"],
    ["pps", 2500, undefined, "2.50 kp/s"],
    ["KBs", 1500, undefined, "1.50 MB/s"],
    ["Kbits", 1, undefined, "1 kb/s"],
    ["KiBs", 1024, undefined, "1 MiB/s"],
    ["Kibits", 1, undefined, "1 Kib/s"],
    ["MBs", 1, undefined, "1 MB/s"],
    ["Mbits", 100, undefined, "100 Mb/s"],
    ["MiBs", 2048, undefined, "2 GiB/s"],
    ["Mibits", 1, undefined, "1 Mib/s"],
    ["GBs", 1, undefined, "1 GB/s"],
    ["Gbits", 10, undefined, "10 Gb/s"],
    ["GiBs", 1, undefined, "1 GiB/s"],
    ["Gibits", 1, undefined, "1 Gib/s"],
    ["TBs", 1, undefined, "1 TB/s"],
    ["Tbits", 1, undefined, "1 Tb/s"],
    ["TiBs", 1, undefined, "1 TiB/s"],
    ["Tibits", 1, undefined, "1 Tib/s"],
    ["PBs", 1, undefined, "1 PB/s"],
    ["Pbits", 1, undefined, "1 Pb/s"],
    ["PiBs", 1, undefined, "1 PiB/s"],
    ["Pibits", 1, undefined, "1 Pib/s"],
  ]);
});

test("throughput: counts with K/M/B/T and their symbols", () => {
  check([
    ["cps", 2, undefined, "2 c/s"],
    ["ops", 1500, undefined, "1.50K ops/s"],
    ["reqps", 12.5, undefined, "12.5 req/s"],
    ["rps", 1e6, undefined, "1M rd/s"],
    ["wps", 3, undefined, "3 wr/s"],
    ["iops", 2000, undefined, "2K io/s"],
    ["eps", 5, undefined, "5 evt/s"],
    ["mps", 5, undefined, "5 msg/s"],
    ["recps", 5, undefined, "5 rec/s"],
    ["rowsps", 5, undefined, "5 rows/s"],
    ["cpm", 5, undefined, "5 c/m"],
    ["opm", 5, undefined, "5 ops/m"],
    ["reqpm", 5, undefined, "5 req/m"],
    ["rpm", 5, undefined, "5 rd/m"],
    ["wpm", 5e9, undefined, "5B wr/m"],
    ["epm", 5, undefined, "5 evts/m"],
    ["mpm", 5, undefined, "5 msgs/m"],
    ["recpm", 5, undefined, "5 rec/m"],
    ["rowspm", 5e12, undefined, "5T rows/m"],
  ]);
});

test("time: each unit moves up at its size, scaled units pluralised", () => {
  check([
    ["s", 0, undefined, "0 s"],
    ["s", 0.0000005, undefined, "500 ns"],
    ["s", 0.0005, undefined, "500 µs"],
    ["s", 0.25, undefined, "250 ms"],
    ["s", 42, undefined, "42 s"],
    ["s", 90, undefined, "1.50 mins"],
    ["s", 60, undefined, "1 min"],
    ["s", 7200, undefined, "2 hours"],
    ["s", 86400 * 3, undefined, "3 days"],
    ["s", 604800 * 2, undefined, "2 weeks"],
    ["ns", 999, undefined, "999 ns"],
    ["ns", 1500, undefined, "1.50 µs"],
    ["ns", 2e9, undefined, "2 s"],
    ["µs", 1500, undefined, "1.50 ms"],
    ["µs", 3e6, undefined, "3 s"],
    ["ms", 90000, undefined, "1.50 mins"],
    ["ms", 86400000 * 400, undefined, "1.10 years"],
    ["m", 30, undefined, "30 min"],
    ["m", 120, undefined, "2 hours"],
    ["h", 12, undefined, "12 hour"],
    ["h", 48, undefined, "2 days"],
    ["d", 3, undefined, "3 day"],
    ["d", 14, undefined, "2 weeks"],
    ["hertz", 2.4e9, undefined, "2.40 GHz"],
    ["timeticks", 6000, undefined, "1 min"],
    ["dtdurations", 1, 0, "1 second"],
    ["dtdurations", 90061, 3, "1 day, 1 hour, 1 minute, 1 second"],
    ["dtdurationms", 0, 0, "0 milliseconds"],
    ["dtdurationms", -1, 0, "1 millisecond ago"],
    ["dtdurationms", 38898367008, 1, "1 year, 2 months"],
    ["dtdurationms", 36993906007, 8, "1 year, 2 months, 0 weeks, 3 days, 4 hours, 5 minutes, 6 seconds, 7 milliseconds"],
    ["dthms", 1, undefined, "00:00:01"],
    ["dthms", -1, undefined, "00:00:01 ago"],
    ["dtdhms", 86399, undefined, "23:59:59"],
    ["dtdhms", 86400, undefined, "1 d 00:00:00"],
    ["dtdhms", 1179811, undefined, "13 d 15:43:31"],
    ["dtdhms", -1179811, undefined, "13 d 15:43:31 ago"],
    ["dtdhms", 116876364, undefined, "1352 d 17:39:24"],
    ["clockms", 999, 0, "999ms"],
    ["clockms", 59999, undefined, "59s:999ms"],
    ["clockms", 59999, 0, "59s"],
    ["clockms", 3599999, undefined, "59m:59s:999ms"],
    ["clockms", 3599999, 1, "59m:59s"],
    ["clockms", 7199999, undefined, "01h:59m:59s:999ms"],
    ["clockms", 7199999, 0, "01h"],
    ["clockms", 89999999, 2, "24h:59m:59s"],
    ["clocks", 59, 0, "59s"],
  ]);
});

test("date and time: Grafana's patterns, `time:` patterns and from-now", () => {
  // Local times, as Grafana's tests take them: the same in every time zone.
  const july2 = new Date(2010, 6, 2).valueOf();
  check([
    ["dateTimeAsIso", july2, 0, "2010-07-02 00:00:00"],
    ["dateTimeAsUS", july2, 0, "07/02/2010 12:00:00 am"],
    ["dateTimeAsSystem", july2, 0, "2010-07-02 00:00:00"],
    ["dateTimeAsIsoNoDateIfToday", july2, 0, "2010-07-02 00:00:00"],
    ["dateTimeAsUSNoDateIfToday", july2, 0, "07/02/2010 12:00:00 am"],
    ["time:YYYY", new Date(1999, 6, 2).valueOf(), 0, "1999"],
    ["time:YYYY.MM", july2, 0, "2010.07"],
  ]);
  assert.equal(formatDate(new Date(2021, 0, 5, 13, 4, 9, 7).valueOf(), "ddd D MMM YY h:mm:ss.SSS A [at] HH"), "Tue 5 Jan 21 1:04:09.007 PM at 13");
  const now = Date.now();
  assert.match(formatValue(now, "dateTimeAsIsoNoDateIfToday"), /^\d\d:\d\d:\d\d$/);
  assert.equal(fromNow(now - 7 * 86400e3, now), "7 days ago");
  assert.equal(fromNow(now - 2 * 60e3, now), "2 minutes ago");
  assert.equal(fromNow(now - 10e3, now), "a few seconds ago");
  assert.equal(fromNow(now + 3 * 3600e3, now), "in 3 hours");
  assert.equal(formatValue(now - 86400e3 * 30, "dateTimeFromNow"), "a month ago");
});

test("currency: symbols before or after, negatives, full amounts", () => {
  check([
    ["currencyUSD", 0, undefined, "$0"],
    ["currencyUSD", 999, undefined, "$999"],
    ["currencyUSD", 1e15, undefined, "$1000T"],
    ["currencyUSD", -1000, undefined, "-$1K"],
    ["currencyEUR", 12.5, 2, "€12.50"],
    ["currencyGBP", 3, undefined, "£3"],
    ["currencyJPY", 3, undefined, "¥3"],
    ["currencyRUB", 3, undefined, "₽3"],
    ["currencyUAH", 3, undefined, "₴3"],
    ["currencyBRL", 3, undefined, "R$3"],
    ["currencySEK", 1000, undefined, "1Kkr"],
    ["currencyDKK", -999, undefined, "-999kr"],
    ["currencyISK", 3, undefined, "3kr"],
    ["currencyNOK", 3, undefined, "3kr"],
    ["currencyCZK", 3, undefined, "czk3"],
    ["currencyCHF", 3, undefined, "CHF3"],
    ["currencyPLN", 3, undefined, "PLN3"],
    ["currencyBTC", 3, undefined, "฿3"],
    ["currencymBTC", 3, undefined, "mBTC3"],
    ["currencyμBTC", 3, undefined, "μBTC3"],
    ["currencyZAR", 3, undefined, "R3"],
    ["currencyINR", 3, undefined, "₹3"],
    ["currencyPHP", 3, undefined, "PHP3"],
    ["currencyVND", 3, undefined, "3đ"],
    ["currencyTRY", 3, undefined, "3₺"],
    ["currency:financial:€:suffix", 1234.5, 2, `${(1234.5).toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 })}€`],
  ]);
});

test("boolean units, and custom bool:", () => {
  check([
    ["bool", 1, undefined, "True"],
    ["bool", 0, undefined, "False"],
    ["bool_yes_no", 1, undefined, "Yes"],
    ["bool_yes_no", 0, undefined, "No"],
    ["bool_on_off", 1, undefined, "On"],
    ["bool_on_off", 0, undefined, "Off"],
    ["bool:up/down", 0, undefined, "down"],
    ["bool:up", 0, undefined, "-"],
  ]);
});

test("every other category: SI-prefixed and fixed units", () => {
  check([
    ["accMS2", 9.81, undefined, "9.81 m/sec²"],
    ["accFS2", 1, undefined, "1 f/sec²"],
    ["accG", 1, undefined, "1 g"],
    ["degree", 90, undefined, "90 °"],
    ["radian", 1, undefined, "1 rad"],
    ["grad", 1, undefined, "1 grad"],
    ["arcmin", 1, undefined, "1 arcmin"],
    ["arcsec", 1, undefined, "1 arcsec"],
    ["areaM2", 1, undefined, "1 m²"],
    ["areaF2", 1, undefined, "1 ft²"],
    ["areaMI2", 1, undefined, "1 mi²"],
    ["flops", 2e9, undefined, "2 GFLOPS"],
    ["mflops", 1500, undefined, "1.50 GFLOPS"],
    ["gflops", 1, undefined, "1 GFLOPS"],
    ["tflops", 1, undefined, "1 TFLOPS"],
    ["pflops", 1, undefined, "1 PFLOPS"],
    ["eflops", 1, undefined, "1 EFLOPS"],
    ["zflops", 1, undefined, "1 ZFLOPS"],
    ["yflops", 1000, undefined, "1000 YFLOPS"],
    ["ppm", 400, undefined, "400 ppm"],
    ["conppb", 1, undefined, "1 ppb"],
    ["conμgm3", 1, undefined, "1 μg/m³"],
    ["conmmolL", 1, undefined, "1 mmol/L"],
    ["watt", 1500, undefined, "1.50 kW"],
    ["kwatt", 1, undefined, "1 kW"],
    ["mwatt", 1, undefined, "1 mW"],
    ["Wm2", 1, undefined, "1 W/m²"],
    ["voltamp", 1, undefined, "1 VA"],
    ["kvoltampreact", 1, undefined, "1 kVAr"],
    ["watth", 1, undefined, "1 Wh"],
    ["kwatth", 1000, undefined, "1 MWh"],
    ["kwattm", 1, undefined, "1 kW-Min"],
    ["amp", 0.002, undefined, "2 mA"],
    ["mamp", 1, undefined, "1 mA"],
    ["volt", 230, undefined, "230 V"],
    ["mvolt", 1, undefined, "1 mV"],
    ["dBm", 1, undefined, "1 dBm"],
    ["ohm", 1, undefined, "1 Ω"],
    ["joule", 1, undefined, "1 J"],
    ["ev", 1, undefined, "1 eV"],
    ["lumens", 1, undefined, "1 Lm"],
    ["flowgpm", 1, undefined, "1 gpm"],
    ["litreh", 1, undefined, "1 L/h"],
    ["lux", 1, undefined, "1 lux"],
    ["forceNm", 1, undefined, "1 Nm"],
    ["forcekN", 1, undefined, "1 kN"],
    ["Hs", 1e6, undefined, "1 MH/s"],
    ["EHs", 1, undefined, "1 EH/s"],
    ["massmg", 1, undefined, "1 mg"],
    ["masskg", 1, undefined, "1 kg"],
    ["masslb", 1, undefined, "1 lb"],
    ["masst", 1, undefined, "1 t"],
    ["lengthmm", 1000, undefined, "1 m"],
    ["lengthkm", 1, undefined, "1 km"],
    ["lengthmi", 1, undefined, "1 mi"],
    ["pressurembar", 1013, undefined, "1.01 bar"],
    ["pressurehpa", 1013, undefined, "1013 hPa"],
    ["pressurehg", 1, undefined, '1 "Hg'],
    ["pressurepsi", 1500, undefined, "1.50ksi"],
    ["radbq", 1, undefined, "1 Bq"],
    ["radusv", 1, undefined, "1 µSv"],
    ["radmsvh", 1, undefined, "1 mSv/h"],
    ["rotrpm", 1, undefined, "1 rpm"],
    ["rothz", 1, undefined, "1 Hz"],
    ["rotrads", 1, undefined, "1 rad/s"],
    ["rotdegs", 1, undefined, "1 °/s"],
    ["celsius", 42.5, undefined, "42.5 °C"],
    ["fahrenheit", 100, undefined, "100 °F"],
    ["farenheit", 100, undefined, "100 °F"],
    ["kelvin", 300, undefined, "300 K"],
    ["velocityms", 1, undefined, "1 m/s"],
    ["velocitykmh", 1, undefined, "1 km/h"],
    ["velocitymph", 1, undefined, "1 mph"],
    ["velocityknot", 1, undefined, "1 kn"],
    ["mlitre", 1500, undefined, "1.50 L"],
    ["litre", 1, undefined, "1 L"],
    ["m3", 1, undefined, "1 m³"],
    ["Nm3", 1, undefined, "1 Nm³"],
    ["dm3", 1, undefined, "1 dm³"],
    ["gallons", 1, undefined, "1 gal"],
  ]);
});

test("no value, NaN and infinities", () => {
  assert.equal(formatValue(null, "bytes"), "No data");
  assert.equal(formatValue(NaN, "bytes"), "NaN");
  assert.equal(formatValue(Infinity, "bytes"), Infinity.toLocaleString());
  assert.equal(formatValue(-Infinity, "celsius"), `${(-Infinity).toLocaleString()} °C`);
  // A time unit walks up to its largest step, as Grafana's does.
  assert.equal(formatValue(-Infinity, "ms"), `${(-Infinity).toLocaleString()} years`);
});

test("every catalogue unit formats a number, and is in field-support.json", () => {
  const ids = catalogueIds();
  assert.ok(UNIT_CATEGORIES.length >= 24, "every category of Grafana's catalogue");
  for (const id of ids) {
    assert.equal(typeof formatValue(1234.5, id), "string", id);
    assert.ok(isSupportedUnit(id), id);
  }
  const file = "src/field-support.json";
  const support = JSON.parse(readFileSync(file, "utf8"));
  const expected = [...ids, "farenheit"];
  if (process.env.UPDATE_GOLDEN) writeFileSync(file, JSON.stringify({ ...support, units: expected }, null, 2) + "\n");
  else assert.deepEqual(support.units, expected, "run with UPDATE_GOLDEN=1 to update src/field-support.json");
});

test("supported units: catalogue ids and custom prefixes, not typos", () => {
  for (const u of ["bytes", "suffix:req", "prefix:$", "si:mF", "count:x", "currency:€", "time:HH:mm", "bool:a/b", undefined]) assert.ok(isSupportedUnit(u), String(u));
  for (const u of ["byte", "Bytes", "kbps", "percents"]) assert.ok(!isSupportedUnit(u), u);
});

test("axis ticks: automatic decimals, trailing zeros trimmed", () => {
  assert.deepEqual(formatTicks([0, 0.5, 1, 1.5], "none"), ["0", "0.5", "1", "1.5"]);
  assert.deepEqual(formatTicks([0, 0.25, 0.5], "percentunit"), ["0%", "25%", "50%"]);
  assert.deepEqual(formatTicks([0, 500, 1000, 1500], "bps"), ["0 b/s", "500 b/s", "1 kb/s", "1.5 kb/s"]);
  assert.deepEqual(formatTicks([0, 1, 2], "bool_yes_no"), ["No", "Yes", "Yes"]);
  assert.deepEqual(formatTicks([0.1 + 0.2, 2], "s", 2), ["300.00 ms", "2.00 s"]);
});
