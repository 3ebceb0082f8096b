// Grafana's units, the common ones: a value as a panel shows it.

const SI = ["", "k", "M", "G", "T", "P"];
const IEC = ["", "Ki", "Mi", "Gi", "Ti", "Pi"];

function scaled(v: number, base: number, prefixes: string[], suffix: string, decimals?: number): string {
  let i = 0;
  let x = Math.abs(v);
  while (x >= base && i < prefixes.length - 1) {
    x /= base;
    i++;
  }
  const sign = v < 0 ? "-" : "";
  return `${sign}${round(x, decimals)}${prefixes[i] || suffix ? " " : ""}${prefixes[i]}${suffix}`.trim();
}

function round(x: number, decimals?: number): string {
  if (decimals !== undefined) return x.toFixed(decimals);
  if (x === 0) return "0";
  if (Math.abs(x) >= 100) return x.toFixed(0);
  if (Math.abs(x) >= 10) return x.toFixed(1).replace(/\.0$/, "");
  return x.toPrecision(3).replace(/\.?0+$/, "");
}

function duration(seconds: number, decimals?: number): string {
  const a = Math.abs(seconds);
  if (a === 0) return "0 s";
  if (a < 1e-3) return `${round(seconds * 1e6, decimals)} µs`;
  if (a < 1) return `${round(seconds * 1e3, decimals)} ms`;
  if (a < 60) return `${round(seconds, decimals)} s`;
  if (a < 3600) return `${round(seconds / 60, decimals)} min`;
  if (a < 86400) return `${round(seconds / 3600, decimals)} hour`;
  return `${round(seconds / 86400, decimals)} day`;
}

/** `v` in `unit` (Grafana's unit ids), with `decimals` if given. */
export function formatValue(v: number | null | undefined, unit = "short", decimals?: number): string {
  if (v === null || v === undefined || Number.isNaN(v)) return "No data";
  if (!Number.isFinite(v)) return v > 0 ? "+Inf" : "-Inf";
  switch (unit) {
    case "none":
      return round(v, decimals);
    case "percent":
      return `${round(v, decimals)}%`;
    case "percentunit":
      return `${round(v * 100, decimals)}%`;
    case "s":
      return duration(v, decimals);
    case "ms":
      return duration(v / 1000, decimals);
    case "bytes":
      return scaled(v, 1024, IEC, "B", decimals);
    case "decbytes":
      return scaled(v, 1000, SI, "B", decimals);
    case "Bps":
    case "binBps":
      return scaled(v, unit === "Bps" ? 1000 : 1024, unit === "Bps" ? SI : IEC, "B/s", decimals);
    case "reqps":
      return `${scaled(v, 1000, SI, "", decimals)} req/s`;
    case "ops":
      return `${scaled(v, 1000, SI, "", decimals)} ops/s`;
    default:
      return scaled(v, 1000, SI, "", decimals);
  }
}
