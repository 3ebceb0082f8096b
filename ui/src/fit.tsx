//! Text that fits its box, as Grafana sizes stat and gauge values (`calculateFontSize` in
//! `packages/grafana-ui/src/utils/measureText.ts`): the text is measured at 14 px, and
//! the largest size at which it fits the width and one line fits the height is taken, so
//! "24 GiB" shrinks in a narrow stat instead of being clipped to "24".

import { useEffect, useRef, useState } from "preact/hooks";

/** The width of `text` at `size` px. */
export type Measure = (text: string, size: number) => number;

let context: CanvasRenderingContext2D | null | undefined;

/** Measures in the page's font with a canvas; without one (a test), at 0.6 em a letter. */
export const measureText: Measure = (text, size) => {
  if (context === undefined) context = typeof document === "undefined" ? null : document.createElement("canvas").getContext("2d");
  if (!context) return text.length * size * 0.6;
  context.font = `600 ${size}px ${getComputedStyle(document.body).fontFamily || "sans-serif"}`;
  return context.measureText(text).width;
};

/** The font size (px) at which `text` fits `width` × `height`, one line of `lineHeight`,
 * at most `max`. */
export function fitFontSize(text: string, width: number, height: number, lineHeight = 1.2, max = Infinity, measure: Measure = measureText): number {
  // Two pixels spare, as Grafana's.
  const byWidth = (width / (measure(text, 14) + 2)) * 14;
  const byHeight = height / lineHeight;
  return Math.max(0, Math.min(byWidth, byHeight, max));
}

/** `text` on one line, sized to fit its parent: `share` of the parent's height (the
 * rest left to a name under it), its width less `pad` px, at most `max` px. */
export function FitText({ text, share = 1, pad = 16, max = 100, class: cls }: { text: string; share?: number; pad?: number; max?: number; class?: string }) {
  const ref = useRef<HTMLSpanElement>(null);
  const [size, setSize] = useState<number | undefined>(undefined);
  useEffect(() => {
    const parent = ref.current?.parentElement;
    if (!parent) return;
    const fit = () => setSize(fitFontSize(text, parent.clientWidth - pad, parent.clientHeight * share, 1.2, max));
    fit();
    const resize = new ResizeObserver(fit);
    resize.observe(parent);
    return () => resize.disconnect();
  }, [text, share, pad, max]);
  return (
    <span ref={ref} class={cls} style={size === undefined ? undefined : { fontSize: `${size}px`, lineHeight: 1.2, whiteSpace: "nowrap" }}>
      {text}
    </span>
  );
}
