//! The checker's output: one line per criterion, what it saw, and on a
//! FAIL where to look.

/// One criterion's verdict.
pub struct Outcome {
    pub name: String,
    pub pass: bool,
    pub saw: Vec<String>,
    /// Printed on a FAIL only: which TODO, which syscall, which man page.
    pub hint: String,
}

impl Outcome {
    pub fn new(
        name: impl Into<String>,
        pass: bool,
        saw: Vec<String>,
        hint: impl Into<String>,
    ) -> Outcome {
        Outcome {
            name: name.into(),
            pass,
            saw,
            hint: hint.into(),
        }
    }
}

/// Prints criteria as they are decided (a slow probe shows progress) and
/// counts them.
#[derive(Default)]
pub struct Report {
    pub passed: usize,
    pub failed: Vec<String>,
}

const INDENT: &str = "      ";

impl Report {
    pub fn add(&mut self, outcome: Outcome) {
        let verdict = if outcome.pass { "PASS" } else { "FAIL" };
        println!("{verdict}  {}", outcome.name);
        // A PASS shows the gist (the command and the first line of output),
        // a FAIL everything it saw.
        let shown = if outcome.pass { 2 } else { outcome.saw.len() };
        for (i, line) in outcome.saw.iter().take(shown).enumerate() {
            let label = if i == 0 { "saw: " } else { "     " };
            println!("{INDENT}{label}{line}");
        }
        if !outcome.pass && !outcome.hint.is_empty() {
            for (i, line) in outcome.hint.lines().enumerate() {
                let label = if i == 0 { "hint: " } else { "      " };
                println!("{INDENT}{label}{line}");
            }
        }
        if outcome.pass {
            self.passed += 1;
        } else {
            self.failed.push(outcome.name);
        }
    }

    pub fn summary(&self) -> String {
        format!("{} passed, {} failed", self.passed, self.failed.len())
    }
}
