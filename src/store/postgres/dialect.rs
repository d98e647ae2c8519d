//! The store's SQL is written once, in SQLite's dialect; this turns a statement into
//! PostgreSQL's, once per statement text. It knows the few forms the queries use that
//! differ: `?N` parameters, `INSERT OR IGNORE`, case-blind `LIKE`, `max(a, b)` and
//! `min(a, b)` of values, `group_concat`, `instr`, `char`, `last_insert_rowid()`, `IS ?`
//! and `IS 'literal'` (null-safe equality), `IN name`, `WHERE 1`, flags as conditions,
//! integer and real casts, `x'…'` blobs. String literals and quoted names are left alone.

use std::sync::LazyLock;

use regex_lite::Regex;

/// `sql` (one statement or several separated by `;`) in PostgreSQL's dialect.
pub fn translate(sql: &str) -> String {
    let (masked, literals) = mask_literals(sql);
    let statements: Vec<String> =
        split_statements(&masked).into_iter().filter(|statement| !statement.trim().is_empty()).map(translate_one).collect();
    unmask(&statements.join(";\n"), &literals)
}

/// Marks a literal's place in the text; `\u{1}N\u{2}` is the Nth literal.
const OPEN: char = '\u{1}';
const CLOSE: char = '\u{2}';

/// The SQL with each string literal, quoted name and comment replaced by a marker, and
/// the literals in their PostgreSQL form.
fn mask_literals(sql: &str) -> (String, Vec<String>) {
    let mut masked = String::with_capacity(sql.len());
    let mut literals = Vec::new();
    let mut chars = sql.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        match c {
            '\'' | '"' => {
                let mut end = sql.len();
                while let Some((at, next)) = chars.next() {
                    if next == c {
                        // A doubled quote is one quote inside the literal.
                        if chars.peek().map(|(_, after)| *after) == Some(c) {
                            chars.next();
                            continue;
                        }
                        end = at + 1;
                        break;
                    }
                }
                let literal = &sql[start..end];
                // SQLite's blob literal x'00ff' is bytea '\x00ff' on PostgreSQL.
                let blob = c == '\'' && masked.ends_with(['x', 'X']) && !ends_with_word_char(&masked[..masked.len() - 1]);
                let literal = if blob {
                    masked.pop();
                    format!("'\\x{}'::bytea", &literal[1..literal.len() - 1])
                } else {
                    literal.to_string()
                };
                masked.push(OPEN);
                masked.push_str(&literals.len().to_string());
                masked.push(CLOSE);
                literals.push(literal);
            }
            '-' if chars.peek().map(|(_, next)| *next) == Some('-') => {
                for (_, next) in chars.by_ref() {
                    if next == '\n' {
                        break;
                    }
                }
                masked.push('\n');
            }
            _ => masked.push(c),
        }
    }
    (masked, literals)
}

fn ends_with_word_char(text: &str) -> bool {
    text.chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_')
}

fn unmask(text: &str, literals: &[String]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find(OPEN) {
        out.push_str(&rest[..open]);
        let close = rest[open..].find(CLOSE).map(|at| open + at).unwrap_or(rest.len());
        let index: usize = rest[open + 1..close].parse().unwrap_or(usize::MAX);
        out.push_str(literals.get(index).map(String::as_str).unwrap_or_default());
        rest = rest.get(close + 1..).unwrap_or_default();
    }
    out.push_str(rest);
    out
}

/// Statements split at the `;` outside parentheses (a trigger body is not split: the
/// PostgreSQL schema has its own migrations).
fn split_statements(masked: &str) -> Vec<String> {
    let mut statements = Vec::new();
    let mut current = String::new();
    let mut depth = 0i32;
    for c in masked.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ';' if depth == 0 => {
                statements.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    statements.push(current);
    statements
}

/// A pattern compiled once per process (regex-lite: ASCII classes and case, which is
/// what SQL outside its masked literals needs).
macro_rules! regex {
    ($pattern:literal) => {{
        static REGEX: LazyLock<Regex> = LazyLock::new(|| Regex::new($pattern).expect("a valid pattern"));
        &*REGEX
    }};
}

fn translate_one(statement: String) -> String {
    let mut sql = numbered_parameters(&statement);
    let mut on_conflict = false;
    if let Some(found) = regex!(r"(?i)\bINSERT\s+OR\s+IGNORE\s+INTO\b").find(&sql) {
        sql.replace_range(found.range(), "INSERT INTO");
        on_conflict = true;
    }
    // Not inside ILIKE: no word boundary between its I and L.
    sql = regex!(r"(?i)\bLIKE\b").replace_all(&sql, "ILIKE").into_owned();
    sql = regex!(r"(?i)\bAS\s+INTEGER\b").replace_all(&sql, "AS BIGINT").into_owned();
    sql = regex!(r"(?i)\bAS\s+REAL\b").replace_all(&sql, "AS DOUBLE PRECISION").into_owned();
    sql = regex!(r"(?i)\bAS\s+BLOB\b").replace_all(&sql, "AS BYTEA").into_owned();
    sql = regex!(r"(?i)\bCOLLATE\s+NOCASE\b").replace_all(&sql, "").into_owned();
    sql = regex!(r"(?i)\binstr\s*\(").replace_all(&sql, "strpos(").into_owned();
    sql = regex!(r"(?i)\bchar\s*\(").replace_all(&sql, "chr(").into_owned();
    // The triggers of the PostgreSQL schema write no table with an identity column, so
    // the session's last sequence value is the statement's own row, as in SQLite.
    sql = regex!(r"(?i)\blast_insert_rowid\s*\(\s*\)").replace_all(&sql, "lastval()").into_owned();
    sql = regex!(r"(?i)\bLIMIT\s+-1\b").replace_all(&sql, "LIMIT ALL").into_owned();
    // `IS` of a parameter or a literal (a masked one: \u{1}N\u{2}); `IS NULL` stays.
    sql = regex!(r"(?i)\bIS\s+NOT\s+(\$\d+|\x01\d+\x02)").replace_all(&sql, "IS DISTINCT FROM $1").into_owned();
    sql = regex!(r"(?i)\bIS\s+(\$\d+|\x01\d+\x02)").replace_all(&sql, "IS NOT DISTINCT FROM $1").into_owned();
    sql = regex!(r"==").replace_all(&sql, "=").into_owned();
    // A flag is a 0/1 BIGINT on both stores; only SQLite takes a number as a condition.
    sql = regex!(r"(?i)\bWHERE\s+1(\s+(AND|OR|ORDER|GROUP|LIMIT)\b|\s*\)|\s*$)").replace_all(&sql, "WHERE TRUE$1").into_owned();
    sql = regex!(r"(?i)\bWHEN\s+(NOT\s+)?([A-Za-z_][\w.]*)\s+THEN\b").replace_all(&sql, "WHEN $1($2 <> 0) THEN").into_owned();
    // Index hints are SQLite's; PostgreSQL's planner takes none.
    sql = regex!(r"(?i)\s+INDEXED\s+BY\s+\w+").replace_all(&sql, "").into_owned();
    // SQLite takes `x IN name` of a table or a WITH's name; PostgreSQL wants a subquery.
    sql = regex!(r"(?i)\bIN\s+([A-Za-z_]\w*)\b").replace_all(&sql, "IN (SELECT * FROM $1)").into_owned();
    sql = scalar_extremes(&sql);
    sql = named_subqueries(&sql);
    sql = group_concat(&sql);
    if on_conflict {
        match regex!(r"(?i)\bRETURNING\b").find(&sql) {
            Some(returning) => sql.insert_str(returning.start(), "ON CONFLICT DO NOTHING "),
            None => sql = format!("{} ON CONFLICT DO NOTHING", sql.trim_end()),
        }
    }
    sql
}

/// `?NNN` becomes `$NNN`; a bare `?` takes the number after the highest so far, as in
/// SQLite.
fn numbered_parameters(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut highest = 0u32;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '?' {
            out.push(c);
            continue;
        }
        let mut digits = String::new();
        while let Some(digit) = chars.peek().copied().filter(char::is_ascii_digit) {
            digits.push(digit);
            chars.next();
        }
        let number = if digits.is_empty() { highest + 1 } else { digits.parse().unwrap_or(highest + 1) };
        highest = highest.max(number);
        out.push('$');
        out.push_str(&number.to_string());
    }
    out
}

/// The arguments of the call whose `(` is at `open`: their ranges and the index after `)`.
fn arguments(sql: &str, open: usize) -> Option<(Vec<(usize, usize)>, usize)> {
    let mut depth = 0;
    let mut start = open + 1;
    let mut ranges = Vec::new();
    for (at, c) in sql[open..].char_indices().map(|(at, c)| (open + at, c)) {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    ranges.push((start, at));
                    return Some((ranges, at + 1));
                }
            }
            ',' if depth == 1 => {
                ranges.push((start, at));
                start = at + 1;
            }
            _ => {}
        }
    }
    None
}

/// SQLite's `max(a, b)` and `min(a, b)` of several values are `greatest` and `least`;
/// with one argument they stay aggregates.
fn scalar_extremes(sql: &str) -> String {
    let mut out = sql.to_string();
    let mut from = 0;
    while let Some(found) = regex!(r"(?i)\b(max|min)\s*\(").find_at(&out, from) {
        let (range, is_max) = (found.range(), found.as_str()[..3].eq_ignore_ascii_case("max"));
        let Some((arguments, _)) = arguments(&out, range.end - 1) else { break };
        if arguments.len() > 1 {
            out.replace_range(range.clone(), if is_max { "greatest(" } else { "least(" });
        }
        from = range.start + 1;
    }
    out
}

/// PostgreSQL 15 wants a name for every subquery in FROM or JOIN; SQLite needs none.
fn named_subqueries(sql: &str) -> String {
    let mut out = sql.to_string();
    let mut from = 0;
    let mut named = 0;
    while let Some(found) = regex!(r"(?i)\b(FROM|JOIN)\s*\(\s*(SELECT|WITH)\b").find_at(&out, from) {
        let open = found.start() + found.as_str().find('(').expect("a parenthesis");
        let Some((_, end)) = arguments(&out, open) else { break };
        let rest = out[end..].trim_start();
        let next_word: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        let keyword = matches!(
            next_word.to_ascii_uppercase().as_str(),
            "" | "WHERE" | "ORDER" | "GROUP" | "LIMIT" | "JOIN" | "LEFT" | "INNER" | "CROSS" | "UNION" | "HAVING" | "ON" | "EXCEPT" | "INTERSECT" | "OFFSET" | "WINDOW"
        );
        if keyword {
            named += 1;
            out.insert_str(end, &format!(" AS subquery_{named}"));
        }
        from = open + 1;
    }
    out
}

/// `group_concat(x)` and `group_concat(x, separator)` as `string_agg`.
fn group_concat(sql: &str) -> String {
    let mut out = sql.to_string();
    while let Some(found) = regex!(r"(?i)\bgroup_concat\s*\(").find(&out) {
        let open = found.end() - 1;
        let Some((arguments, end)) = arguments(&out, open) else { break };
        let call = match arguments.as_slice() {
            [(start, stop)] => format!("string_agg(({})::text, ',')", &out[*start..*stop]),
            [(start, stop), (separator_start, separator_stop)] => {
                format!("string_agg(({})::text, {})", &out[*start..*stop], out[*separator_start..*separator_stop].trim())
            }
            _ => break,
        };
        out.replace_range(found.start()..end, &call);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::translate;

    #[test]
    fn parameters_are_numbered_as_sqlite_numbers_them() {
        assert_eq!(translate("SELECT a FROM t WHERE b = ?1 AND c = ?2"), "SELECT a FROM t WHERE b = $1 AND c = $2");
        assert_eq!(translate("UPDATE t SET a = ? WHERE b = ?"), "UPDATE t SET a = $1 WHERE b = $2");
        assert_eq!(translate("SELECT '?1' FROM t WHERE a = ?1"), "SELECT '?1' FROM t WHERE a = $1");
    }

    #[test]
    fn insert_or_ignore_does_nothing_on_a_conflict() {
        assert_eq!(
            translate("INSERT OR IGNORE INTO t (a) VALUES (?1)"),
            "INSERT INTO t (a) VALUES ($1) ON CONFLICT DO NOTHING"
        );
        assert_eq!(
            translate("INSERT OR IGNORE INTO t (a) VALUES (?1) RETURNING id"),
            "INSERT INTO t (a) VALUES ($1) ON CONFLICT DO NOTHING RETURNING id"
        );
    }

    #[test]
    fn expressions_that_differ_are_rewritten_and_literals_kept() {
        assert_eq!(translate("SELECT max(a, b), max(c) FROM t"), "SELECT greatest(a, b), max(c) FROM t");
        assert_eq!(translate("SELECT min(coalesce(a, 0), ?1)"), "SELECT least(coalesce(a, 0), $1)");
        assert_eq!(translate("SELECT a FROM t WHERE b LIKE ?1"), "SELECT a FROM t WHERE b ILIKE $1");
        assert_eq!(translate("SELECT a FROM t WHERE b NOT LIKE 'x%'"), "SELECT a FROM t WHERE b NOT ILIKE 'x%'");
        assert_eq!(translate("SELECT group_concat(a, ', ') FROM t"), "SELECT string_agg((a)::text, ', ') FROM t");
        assert_eq!(translate("SELECT a FROM t WHERE b IS ?2 AND c IS NOT ?3"), "SELECT a FROM t WHERE b IS NOT DISTINCT FROM $2 AND c IS DISTINCT FROM $3");
        assert_eq!(
            translate("WITH m AS (SELECT a FROM t) SELECT b FROM u WHERE b IN m AND c IN (1, 2)"),
            "WITH m AS (SELECT a FROM t) SELECT b FROM u WHERE b IN (SELECT * FROM m) AND c IN (1, 2)"
        );
        assert_eq!(translate("SELECT a || char(31) || b FROM t"), "SELECT a || chr(31) || b FROM t");
        assert_eq!(translate("UPDATE h SET a = 1 WHERE id = last_insert_rowid()"), "UPDATE h SET a = 1 WHERE id = lastval()");
        assert_eq!(translate("SELECT a FROM t WHERE 1 AND b = 2"), "SELECT a FROM t WHERE TRUE AND b = 2");
        assert_eq!(translate("SELECT a FROM t WHERE 1"), "SELECT a FROM t WHERE TRUE");
        assert_eq!(translate("SELECT a FROM t WHERE 1 = b"), "SELECT a FROM t WHERE 1 = b");
        assert_eq!(
            translate("SELECT SUM(CASE WHEN e.vendor THEN 1 ELSE 0 END), CASE WHEN NOT flag THEN 1 END, CASE WHEN a = 1 THEN 2 END FROM t"),
            "SELECT SUM(CASE WHEN (e.vendor <> 0) THEN 1 ELSE 0 END), CASE WHEN NOT (flag <> 0) THEN 1 END, CASE WHEN a = 1 THEN 2 END FROM t"
        );
        assert_eq!(
            translate("UPDATE t SET a = '' WHERE a IS NOT '' AND b IS 'x' AND c IS NOT NULL"),
            "UPDATE t SET a = '' WHERE a IS DISTINCT FROM '' AND b IS NOT DISTINCT FROM 'x' AND c IS NOT NULL"
        );
        assert_eq!(translate("SELECT CAST(a AS INTEGER), x'00', 'it''s' -- note\nFROM t"), "SELECT CAST(a AS BIGINT), '\\x00'::bytea, 'it''s' \nFROM t");
        assert_eq!(translate("SELECT 1; SELECT 2;"), "SELECT 1;\n SELECT 2");
        assert_eq!(
            translate("SELECT a FROM (SELECT a, b FROM t ORDER BY b LIMIT 10) ORDER BY b"),
            "SELECT a FROM (SELECT a, b FROM t ORDER BY b LIMIT 10) AS subquery_1 ORDER BY b"
        );
        assert_eq!(translate("SELECT a FROM (SELECT a FROM t) x"), "SELECT a FROM (SELECT a FROM t) x");
        assert_eq!(translate("SELECT a FROM t INDEXED BY t_a WHERE a = 1"), "SELECT a FROM t WHERE a = 1");
    }
}
