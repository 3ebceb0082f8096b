//! The value axis's automatic range, as Grafana's time series sets it
//! (`UPlotScaleBuilder`): uPlot's padded range of the data within the soft limits, the
//! hard limits kept as given, a flat non-zero line doubled away from zero, and a flat
//! line at zero drawn 0 to 100, except on an axis of fractions (percentunit or percent
//! stacking), where 0 to 100 would read 0% to 10000%: there it is 0 to 1, 0% to 100%.

import uPlot from "uplot";

export interface RangeLimits {
  hardMin?: number;
  hardMax?: number;
  softMin?: number;
  softMax?: number;
  /** The axis shows fractions as percentages. */
  fractions?: boolean;
}

export function autoRange(dmin: number, dmax: number, l: RangeLimits = {}): [number, number] {
  let [lo, hi] = uPlot.rangeNum(Math.min(dmin, l.softMin ?? dmin), Math.max(dmax, l.softMax ?? dmax), 0.1, true) as [number, number];
  if (lo === hi && lo !== 0) [lo, hi] = lo < 0 ? [lo * 2, 0] : [0, hi * 2];
  lo = l.hardMin ?? lo;
  hi = l.hardMax ?? hi;
  if (lo >= hi) [lo, hi] = [0, 100];
  const flatZero = dmin === 0 && dmax === 0 && l.softMax === undefined && l.hardMax === undefined;
  if (flatZero && l.fractions) hi = 1;
  return [lo === 0 ? 0 : lo, hi];
}
