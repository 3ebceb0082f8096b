//! What `skywatch slo check` refuses beyond what loading refuses: an SLO must alert on
//! both fast burns (a page) and slow ones (a ticket), every query must parse as PromQL
//! once its window is filled in, and no window may be longer than the period.

use crate::generate::duration as format_duration;

use crate::Slo;
use crate::generate::{fill_window, groups, rule_file};

/// A problem `skywatch slo check` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// What is wrong, naming the file, line, SLO and field.
    pub message: String,
    /// Whether the generated rules would be broken too (not only incomplete), so that
    /// `skywatch slo generate` refuses the spec as well.
    pub breaks_rules: bool,
}

/// The problems of `slo`, each naming the SLO and the field.
pub fn problems(slo: &Slo) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut push = |message: String, breaks_rules: bool| {
        out.push(Problem {
            message,
            breaks_rules,
        })
    };
    let at = format!("{}:{}: {}", slo.file, slo.line, slo.id);
    for severity in ["page", "ticket"] {
        if !slo.alerts.iter().any(|a| a.severity == severity) {
            push(
                format!(
                    "{at}: no {severity} alert: every SLO needs a page alert (fast burn) and \
                     a ticket alert (slow burn); remove `disable: true`"
                ),
                false,
            );
        }
    }
    for q in slo.sli.queries() {
        let filled = fill_window(q, "5m");
        if let Err(e) = promql::ast::parse(&filled) {
            push(
                format!("{at}: sli query {:?} does not parse: {e}", q.trim()),
                true,
            );
        }
    }
    for w in slo.windows.durations().into_iter().chain(
        slo.alerts
            .iter()
            .flat_map(|a| a.conditions.iter().map(|c| c.long)),
    ) {
        if w > slo.period {
            push(
                format!(
                    "{at}: window {} is longer than the period {}",
                    format_duration(w),
                    format_duration(slo.period)
                ),
                true,
            );
            break;
        }
    }
    // The generated rules themselves, read as the server reads them: a spec's labels or
    // annotations can still break them (a name that is no label name, a template that
    // does not parse), which fuzzing found the check let through.
    let text = rule_file(&groups(slo), &slo.file);
    if let Err(e) = rules::RuleFile::parse(&text, "the generated rules") {
        for p in e.problems {
            push(format!("{at}: generated rules: {p}"), true);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Defaults, load};

    const SPEC: &str = r#"
version: "prometheus/v1"
service: "svc"
slos:
  - name: "avail"
    objective: 99
    sli:
      raw:
        error_ratio_query: sum(rate(errors_total[{{.window}}])) / sum(rate(requests_total[{{.window}}]))
    alerting:
      name: SvcAvail
"#;

    #[test]
    fn a_good_slo_has_no_problem() {
        let slo = load(SPEC, "s.yml", &Defaults::default()).unwrap().remove(0);
        assert_eq!(problems(&slo), Vec::new());
    }

    #[test]
    fn each_problem_is_named() {
        let cases = [
            (
                "name: SvcAvail",
                "name: SvcAvail\n      ticket_alert:\n        disable: true",
                "no ticket alert",
            ),
            ("/ sum(", "/ sum((", "does not parse"),
            // Found by fuzzing (fuzz/fuzz_targets/slo.rs): an annotation name with a space
            // passed the check and made rules that the server refuses to load.
            (
                "name: SvcAvail",
                "name: SvcAvail\n      annotations:\n        runbo severity: warning",
                "annotation name \"runbo severity\" is not valid",
            ),
            (
                "name: SvcAvail",
                "name: SvcAvail\n      labels:\n        team: \"{{ .Nope\"",
                "the template does not parse",
            ),
        ];
        for (from, to, want) in cases {
            let slo = load(&SPEC.replacen(from, to, 1), "s.yml", &Defaults::default())
                .unwrap()
                .remove(0);
            let p = problems(&slo);
            assert!(
                p.iter().any(
                    |m| m.message.contains(want) && m.message.starts_with("s.yml:5: svc-avail")
                ),
                "{to}: {p:?}"
            );
        }
        // An OpenSLO condition may look back further than the period.
        let mut slo = load(SPEC, "s.yml", &Defaults::default()).unwrap().remove(0);
        slo.alerts[1].conditions[1].long = 40 * crate::windows::DAY;
        let p = problems(&slo);
        assert!(
            p.iter().any(|m| m.breaks_rules
                && m.message
                    .ends_with("window 40d is longer than the period 30d")),
            "{p:?}"
        );
    }
}
