//! Diagnostic codes: one enum, each code declared once below with its kind. The name of a
//! variant is the code as printed (`E0220`) and as headed in docs/DIAGNOSTICS.md (`### E0220`,
//! anchor `#e0220`); the table is in the order of that document, section by section.

use serde::{Serialize, Serializer};
use std::fmt;

/// docs/DIAGNOSTICS.md, built into the binary: `detc explain` prints an entry of it.
const DIAGNOSTICS_MD: &str = include_str!("../../docs/DIAGNOSTICS.md");

/// What a code reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A problem with the input or the pack: the command fails.
    Error,
    /// A checked rule that one target cannot express (its table lacks the source or a field, or
    /// the language lacks the construct). An error for that target; with `--target all` it
    /// becomes a W0900 warning and the other targets are still written.
    Refusal,
    /// Reported; changes the exit status only with `--deny-warnings`.
    Warning,
}

macro_rules! codes {
    ($( $code:ident $kind:ident, )*) => {
        /// A diagnostic code (docs/DIAGNOSTICS.md has an entry for each).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code {
            $( $code, )*
        }

        impl Code {
            /// Every code, in the order of docs/DIAGNOSTICS.md.
            pub const ALL: &'static [Code] = &[ $( Code::$code, )* ];

            /// The code as printed and documented, e.g. `"E0220"`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( Code::$code => stringify!($code), )*
                }
            }

            pub fn kind(self) -> Kind {
                match self {
                    $( Code::$code => Kind::$kind, )*
                }
            }
        }
    };
}

codes! {
    // Loading
    E0001 Error,
    E0002 Error,
    E0003 Error,
    E0004 Error,
    E0005 Error,
    // Project config (detc.yaml)
    E0030 Error,
    E0031 Error,
    E0032 Error,
    E0033 Error,
    E0034 Error,
    E0035 Error,
    E0036 Error,
    // Syntax
    E0100 Error,
    E0102 Error,
    E0103 Error,
    E0104 Error,
    E0105 Error,
    E0106 Error,
    E0107 Error,
    E0199 Error,
    // Rules and metadata
    E0200 Error,
    E0201 Error,
    E0202 Error,
    E0203 Error,
    E0204 Error,
    E0205 Error,
    E0206 Error,
    E0207 Error,
    E0208 Error,
    E0210 Error,
    W0211 Warning,
    E0212 Error,
    E0213 Error,
    E0214 Error,
    E0215 Error,
    // Fields, types and values
    E0220 Error,
    E0221 Error,
    E0222 Error,
    E0223 Error,
    E0224 Error,
    E0225 Error,
    E0226 Error,
    E0227 Error,
    E0228 Error,
    E0229 Error,
    // Lists
    E0230 Error,
    E0231 Error,
    E0232 Error,
    E0233 Error,
    E0234 Error,
    E0237 Error,
    E0238 Error,
    E0239 Error,
    E0235 Error,
    W0236 Warning,
    // Computed fields
    E0240 Error,
    E0241 Error,
    E0242 Error,
    // Aggregation
    E0250 Error,
    E0251 Error,
    E0252 Error,
    E0253 Error,
    E0254 Error,
    E0255 Error,
    // Rule tests
    E0260 Error,
    E0261 Error,
    E0262 Error,
    E0263 Error,
    E0264 Error,
    E0265 Error,
    // Comparisons of values
    E0270 Error,
    E0271 Error,
    E0272 Error,
    E0273 Error,
    E0274 Error,
    E0275 Error,
    E0276 Error,
    E0277 Error,
    E0278 Error,
    // Correlation of several events
    E0290 Error,
    E0291 Error,
    E0292 Error,
    E0293 Error,
    E0294 Error,
    E0295 Error,
    E0296 Error,
    E0297 Error,
    // Lints
    W0280 Warning,
    W0281 Warning,
    W0282 Warning,
    W0283 Warning,
    // Deployment (entities, schedule)
    E0300 Error,
    E0301 Error,
    E0302 Error,
    E0303 Error,
    E0304 Error,
    // Platform
    E0305 Error,
    E0306 Error,
    E0307 Error,
    E0308 Refusal,
    // Suppression
    E0309 Error,
    E0310 Error,
    // List fields
    E0315 Error,
    // Import (`detc import sigma`)
    E0700 Error,
    E0701 Error,
    E0702 Error,
    E0703 Error,
    E0704 Error,
    E0705 Error,
    E0706 Error,
    E0707 Error,
    E0708 Error,
    // Evaluator (`detc run`, `detc test`)
    E0800 Error,
    E0801 Error,
    E0802 Error,
    E0803 Error,
    E0804 Error,
    E0805 Error,
    E0806 Error,
    E0807 Error,
    E0808 Error,
    E0900 Error,
    // Compilation (`detc compile`): what a target can and cannot express
    E0901 Refusal,
    E0902 Refusal,
    E0903 Error,
    E0904 Refusal,
    E0905 Error,
    E0906 Error,
    E0907 Error,
    E0908 Error,
    E0910 Refusal,
    E0911 Refusal,
    E0912 Refusal,
    E0915 Refusal,
    E0916 Refusal,
    E0917 Refusal,
    E0918 Error,
    E0919 Error,
    E0920 Refusal,
    W0900 Warning,
    W0901 Warning,
    W0902 Warning,
    W0903 Warning,
    W0904 Warning,
    W0905 Warning,
    W0908 Warning,
    W0909 Warning,
    W0910 Warning,
}

impl Code {
    /// The code named `s` (as printed, e.g. `E0220`; exact case).
    pub fn parse(s: &str) -> Option<Code> {
        Code::ALL.iter().copied().find(|c| c.as_str() == s)
    }

    /// The severity a diagnostic of this code is reported with.
    pub fn severity(self) -> super::Severity {
        match self.kind() {
            Kind::Error | Kind::Refusal => super::Severity::Error,
            Kind::Warning => super::Severity::Warning,
        }
    }

    /// The anchor of the code's entry in docs/DIAGNOSTICS.md (the heading `### E0220` is
    /// `#e0220`).
    pub fn doc_anchor(self) -> String {
        format!("#{}", self.as_str().to_ascii_lowercase())
    }

    /// The code's entry in docs/DIAGNOSTICS.md: its `### CODE` heading down to the next heading,
    /// without trailing blank lines. `None` if the document lacks it (a test rules that out).
    pub fn doc_entry(self) -> Option<String> {
        let code = self.as_str();
        let mut lines = DIAGNOSTICS_MD.lines();
        lines.find(|l| heading_code(l) == Some(code))?;
        let mut text = format!("### {code}\n");
        // Headings inside a ```text block (none today) would not end the entry.
        let mut fenced = false;
        for l in lines {
            if l.starts_with("```") {
                fenced = !fenced;
            }
            if !fenced && (l.starts_with("## ") || l.starts_with("### ")) {
                break;
            }
            text.push_str(l);
            text.push('\n');
        }
        Some(text.trim_end().to_string() + "\n")
    }
}

/// The code a line of docs/DIAGNOSTICS.md heads an entry for (`### E0220`).
fn heading_code(line: &str) -> Option<&str> {
    line.strip_prefix("### ").map(str::trim)
}

/// Every code docs/DIAGNOSTICS.md has an entry for, in document order, as written there.
pub fn documented() -> Vec<&'static str> {
    DIAGNOSTICS_MD.lines().filter_map(heading_code).collect()
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Serialized as the code's text (`"E0220"`), so JSON output is what it was with strings.
impl Serialize for Code {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Codes sort as their text does (`E0999` before `W0100`), as when they were strings.
impl Ord for Code {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for Code {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq<str> for Code {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The letter of a code says its severity (docs/DIAGNOSTICS.md: `E....` errors, `W....`
    /// warnings); the declared kind must agree with it.
    #[test]
    fn the_kind_agrees_with_the_letter() {
        for c in Code::ALL {
            let want = match c.as_str().as_bytes()[0] {
                b'W' => Kind::Warning,
                _ => {
                    assert_ne!(c.kind(), Kind::Warning, "{c}");
                    c.kind()
                }
            };
            assert_eq!(c.kind(), want, "{c}");
            assert!(c.as_str().len() == 5 && c.as_str()[1..].bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn codes_serialize_and_sort_as_their_text() {
        assert_eq!(
            serde_json::to_string(&Code::E0220).ok().as_deref(),
            Some("\"E0220\"")
        );
        assert_eq!(Code::parse("W0282"), Some(Code::W0282));
        assert_eq!(Code::parse("e0220"), None);
        let mut all = Code::ALL.to_vec();
        all.sort();
        let mut text: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
        text.sort();
        assert_eq!(all.iter().map(|c| c.as_str()).collect::<Vec<_>>(), text);
        assert_eq!(Code::E0220.doc_anchor(), "#e0220");
    }

    /// Refusals are exactly the codes docs/DIAGNOSTICS.md says `--target all` turns into W0900.
    #[test]
    fn refusals_are_the_codes_w0900_names() {
        let entry = Code::W0900.doc_entry().unwrap_or_default();
        // The first paragraph names them; the example after it shows some again.
        let first = entry.split("\n\n").nth(1).unwrap_or_default();
        let mut named: Vec<&str> = first
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| *w != "W0900" && Code::parse(w).is_some())
            .collect();
        named.dedup();
        let refusals: Vec<&str> = Code::ALL
            .iter()
            .filter(|c| c.kind() == Kind::Refusal)
            .map(|c| c.as_str())
            .collect();
        assert_eq!(refusals, named);
        assert!(!refusals.is_empty());
    }
}
