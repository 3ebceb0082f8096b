//! Go's `strings` case mappings, which both Prometheus's and Alertmanager's template
//! functions use, and the title casing of `golang.org/x/text/cases` that Alertmanager's
//! `title` uses.

/// Go's `strings.ToUpper`: each rune by its simple mapping.
pub fn to_upper(s: &str) -> String {
    s.chars().map(simple_upper).collect()
}

/// Go's `strings.ToLower`: each rune by its simple mapping.
pub fn to_lower(s: &str) -> String {
    s.chars().map(simple_lower).collect()
}

/// `cases.Title(language.AmericanEnglish).String`: in each word, the first letter to
/// title case (by the full mapping: `ß` becomes `Ss`) and the other letters to lower
/// case. Words are split as Unicode's word breaking splits them (`o'neil`, `a.b` and
/// `a:b` are one word; `-`, `/`, `;` and spaces split), approximated by rune classes.
pub fn cases_title(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut in_word = false;
    let mut seen_letter = false;
    for (i, &c) in chars.iter().enumerate() {
        let word_char = c.is_alphanumeric() || c == '_';
        let joins = matches!(c, '\'' | '.' | ':' | '·' | '’')
            && in_word
            && i > 0
            && chars[i - 1].is_alphabetic()
            && chars.get(i + 1).is_some_and(|n| n.is_alphabetic());
        let joins_digits = matches!(c, ',' | ';' | '.' | '\'')
            && in_word
            && i > 0
            && chars[i - 1].is_numeric()
            && chars.get(i + 1).is_some_and(|n| n.is_numeric());
        if !(word_char || joins || joins_digits) {
            in_word = false;
            out.push(c);
            continue;
        }
        if !in_word {
            in_word = true;
            seen_letter = false;
        }
        if c.is_alphabetic() && !seen_letter {
            seen_letter = true;
            let mut upper = c.to_uppercase().collect::<String>();
            // Title case keeps the rest of a multi-letter mapping lower: `ß` is `Ss`.
            if upper.chars().count() > 1 {
                let mut cs = upper.chars();
                let first = cs.next().unwrap_or(c);
                upper = std::iter::once(first)
                    .chain(cs.flat_map(char::to_lowercase))
                    .collect();
            }
            out.push_str(&to_title_str(c, upper));
        } else if c.is_alphabetic() {
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The title-case form of `c` where it differs from upper case (the digraphs).
fn to_title_str(c: char, upper: String) -> String {
    match c {
        'Ǆ' | 'ǅ' | 'ǆ' | 'Ǉ' | 'ǈ' | 'ǉ' | 'Ǌ' | 'ǋ' | 'ǌ' | 'Ǳ' | 'ǲ' | 'ǳ' => {
            to_title(c)
        }
        _ => upper,
    }
}

/// Go's `strings.Title`: each letter that starts a word to title case, a word starting
/// after anything but a letter, digit or `_` (Go's `isSeparator`).
pub fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev = ' ';
    for c in s.chars() {
        if is_separator(prev) {
            out.push_str(&to_title(c));
        } else {
            out.push(c);
        }
        prev = c;
    }
    out
}

fn is_separator(c: char) -> bool {
    if c.is_ascii() {
        return !(c.is_ascii_alphanumeric() || c == '_');
    }
    if c.is_alphanumeric() {
        return false;
    }
    c.is_whitespace()
}

/// Go's `unicode.ToTitle` of one rune: the simple title-case mapping.
fn to_title(c: char) -> String {
    match c {
        'Ǆ' | 'ǅ' | 'ǆ' => "ǅ".into(),
        'Ǉ' | 'ǈ' | 'ǉ' => "ǈ".into(),
        'Ǌ' | 'ǋ' | 'ǌ' => "ǋ".into(),
        'Ǳ' | 'ǲ' | 'ǳ' => "ǲ".into(),
        _ => simple_upper(c).to_string(),
    }
}

/// Go's `unicode.ToUpper` of one rune: Rust's mapping where it is one rune, else the
/// rune itself (Go keeps `ß`, which Rust makes `SS`).
pub fn simple_upper(c: char) -> char {
    let mut up = c.to_uppercase();
    match (up.next(), up.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

/// Go's `unicode.ToLower` of one rune.
pub fn simple_lower(c: char) -> char {
    if c == 'İ' {
        return 'i';
    }
    let mut low = c.to_lowercase();
    match (low.next(), low.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}
