//! Fuzzes SLO specs (Sloth's `prometheus/v1` and OpenSLO's `openslo/v1`): any text is a
//! list of SLOs or an error naming the file, and an SLO that `slo::check` passes (no
//! problem that breaks the rules) generates a rule file that the rule parser takes: the
//! check is what stands between a spec and rules that fail to load.

#![no_main]

use libfuzzer_sys::fuzz_target;

fn run(text: &str) {
    let slos = match slo::load(text, "fuzz.yml", &slo::Defaults::default()) {
        Ok(slos) => slos,
        Err(e) => {
            assert_eq!(e.file, "fuzz.yml");
            assert!(!e.message.is_empty());
            return;
        }
    };
    for s in &slos {
        if slo::check::problems(s).iter().any(|p| p.breaks_rules) {
            continue;
        }
        let groups = slo::generate::groups(s);
        let rules = slo::generate::rule_file(&groups, "fuzz.yml");
        if let Err(e) = rules::RuleFile::parse(&rules, "fuzz.rules.yml") {
            panic!(
                "SLO {:?} passes the check but its rules do not load: {e}\n{rules}",
                s.id
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    skywatch_fuzz::on_worker_stack("the SLO spec", || run(text));
});
