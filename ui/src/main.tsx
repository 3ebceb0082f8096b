// The page: a header with the sections, and the section the path names.

import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import "uplot/dist/uPlot.min.css";
import "./style.css";
import { Alerts, Notifications, Rules, Silences } from "./alerting";
import { THEME_EVENT } from "./chart";
import { Dashboard } from "./dashboard";
import { Dashboards } from "./dashboards";
import { Explore } from "./explore";
import { Health } from "./health";
import { Logs } from "./logs";
import { SloPage, Slos } from "./slos";
import { Targets } from "./targets";
import { TraceView } from "./trace-view";
import { Traces } from "./traces";

function usePath(): string {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => {
    const changed = () => setPath(location.pathname);
    addEventListener("popstate", changed);
    return () => removeEventListener("popstate", changed);
  }, []);
  return path;
}

/** Follows links to the UI's own pages without reloading it. */
function onClick(e: MouseEvent) {
  const a = (e.target as Element).closest?.("a");
  if (!a || a.target || e.ctrlKey || e.metaKey || e.shiftKey || a.origin !== location.origin) return;
  if (a.pathname.startsWith("/api/") || a.pathname.startsWith("/demo/") || a.pathname === "/metrics") return;
  e.preventDefault();
  history.pushState(null, "", a.href);
  dispatchEvent(new PopStateEvent("popstate"));
}

function ThemeToggle() {
  const [theme, setTheme] = useState(document.documentElement.dataset.theme ?? "light");
  const flip = () => {
    const next = theme === "dark" ? "light" : "dark";
    document.documentElement.dataset.theme = next;
    localStorage.setItem("skywatch-theme", next);
    setTheme(next);
    dispatchEvent(new Event(THEME_EVENT));
  };
  return (
    <button class="theme" type="button" onClick={flip} aria-label={`Switch to the ${theme === "dark" ? "light" : "dark"} theme`}>
      {theme === "dark" ? "☀" : "☾"}
    </button>
  );
}

const SECTIONS: [string, string][] = [
  ["/dashboards", "Dashboards"],
  ["/explore", "Explore"],
  ["/logs", "Logs"],
  ["/traces", "Traces"],
  ["/targets", "Targets"],
  ["/health", "Health"],
  ["/slos", "SLOs"],
  ["/alerts", "Alerts"],
  ["/rules", "Rules"],
  ["/silences", "Silences"],
  ["/notifications", "Notifications"],
];

function page(path: string) {
  if (path.startsWith("/d/")) {
    const uid = decodeURIComponent(path.split("/")[2] ?? "");
    return <Dashboard key={uid} uid={uid} />;
  }
  if (path.startsWith("/explore")) return <Explore key={path} />;
  if (path.startsWith("/logs")) return <Logs key={path} />;
  if (path.startsWith("/traces/")) {
    const id = decodeURIComponent(path.split("/")[2] ?? "");
    return <TraceView key={id} id={id} />;
  }
  if (path.startsWith("/traces")) return <Traces />;
  if (path.startsWith("/targets")) return <Targets />;
  if (path.startsWith("/health")) return <Health />;
  if (path.startsWith("/slos/")) {
    const id = decodeURIComponent(path.split("/")[2] ?? "");
    return <SloPage key={id} id={id} />;
  }
  if (path.startsWith("/slos")) return <Slos />;
  if (path.startsWith("/alerts")) return <Alerts />;
  if (path.startsWith("/rules")) return <Rules />;
  if (path.startsWith("/silences")) return <Silences />;
  if (path.startsWith("/notifications")) return <Notifications />;
  return <Dashboards />;
}

function App() {
  const path = usePath();
  return (
    <>
      <header>
        <a class="brand" href="/">Skywatch</a>
        <nav>
          {SECTIONS.map(([href, name]) => (
            <a href={href} class={path.startsWith(href) || (href === "/dashboards" && (path === "/" || path.startsWith("/d/"))) ? "active" : ""}>
              {name}
            </a>
          ))}
        </nav>
        <ThemeToggle />
      </header>
      <main>{page(path)}</main>
    </>
  );
}

document.addEventListener("click", onClick);
render(<App />, document.getElementById("app")!);
