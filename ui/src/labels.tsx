// A series' or an alert's labels as `name="value"` chips.

import type { Labels } from "./api";

/** Every label but those in `skip`, each a chip. */
export function LabelList({ labels, skip = [] }: { labels: Labels; skip?: string[] }) {
  return (
    <span class="labels">
      {Object.entries(labels)
        .filter(([k]) => !skip.includes(k))
        .map(([k, v]) => (
          <span class="label">
            {k}="{v}"
          </span>
        ))}
    </span>
  );
}
