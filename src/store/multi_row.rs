//! Multi-row statements for the outbound queue's group commit: pure SQL text builders and the
//! chunking that keeps each statement under the engines' bound-parameter limits.
//!
//! One statement per few hundred rows instead of one per row is where group commit gets its
//! throughput: per-statement overhead (sqlx's SQLite worker thread, a PostgreSQL round trip),
//! not the commit, dominated a group of single-row statements.
//!
//! On SQLite the placeholders are anonymous `?`: sqlx resolves every numbered placeholder
//! through `sqlite3_bind_parameter_name`, which walks the statement's list of names, so binding
//! a statement of n numbered parameters costs O(n²) (two thirds of a batch publish's time at a
//! few thousand parameters). Anonymous ones have no names to walk. PostgreSQL needs `$n`.
//! Either way parameters are numbered in order of appearance, so one binding order serves both.
//!
//! Statement sizes are full chunks plus the remainder split into powers of two, so only a
//! handful of distinct SQL texts exist per table and each stays in sqlx's per-connection
//! prepared-statement cache instead of being parsed again for every group size.

/// SQLite's limit on bound parameters (`SQLITE_MAX_VARIABLE_NUMBER`, 32,766 since 3.32);
/// PostgreSQL allows 65,535, so this bound serves both.
pub const MAX_PARAMS: usize = 32_766;

/// Most rows per statement: `cap`, lowered so `rows * width + shared` stays under
/// [`MAX_PARAMS`]. Always a power of two, so [`chunk_sizes`] yields cached sizes only.
pub fn max_rows(width: usize, shared: usize, cap: usize) -> usize {
    let fit = (MAX_PARAMS - shared) / width.max(1);
    let limit = cap.min(fit).max(1);
    // Round down to a power of two.
    1 << (usize::BITS - 1 - limit.leading_zeros())
}

/// Bytes a PostgreSQL statement's parameters should stay near. sqlx leaves Nagle's algorithm on
/// for its connections, so a message larger than the socket's send buffer (16 KiB to start
/// with on Linux) goes out in pieces and the last piece waits for the server's delayed ACK,
/// about 40 ms, which made a 300-event batch slower than three 100-event ones.
pub const PG_STATEMENT_BYTES: usize = 8 * 1024;

/// A row cap for rows averaging `total / n` bytes, so a statement carries about `budget`
/// bytes (at least one row, whatever its size).
pub fn byte_cap(total: usize, n: usize, budget: usize) -> usize {
    if n == 0 || total == 0 {
        return usize::MAX;
    }
    (budget * n / total).max(1)
}

/// How `n` rows are split into statements of at most `max` rows (`max` a power of two): full
/// chunks of `max`, then the remainder's binary digits, largest first.
pub fn chunk_sizes(n: usize, max: usize) -> Vec<usize> {
    let mut sizes = vec![max; n / max];
    let rest = n % max;
    let mut bit = max;
    while bit > 0 {
        if rest & bit != 0 {
            sizes.push(bit);
        }
        bit >>= 1;
    }
    sizes
}

/// How `n` rows go into statements of at most `max` rows (`max` a power of two), as
/// `(rows bound, rows in the statement's text)`. PostgreSQL: [`chunk_sizes`], text and rows
/// alike. SQLite: full chunks, then the remainder in ONE statement whose text is rounded up to
/// a power of two, the rows past the remainder bound as NULLs, which every statement here skips
/// (inserts keep only rows with a first column, updates and `IN` lists match no NULL). Each
/// statement is a round trip to sqlx's SQLite worker thread, and under load those round trips,
/// not SQLite's work, were most of a group commit's time; texts stay as few as before.
pub fn statement_sizes(style: Style, n: usize, max: usize) -> Vec<(usize, usize)> {
    match style {
        Style::Dollar => chunk_sizes(n, max).into_iter().map(|s| (s, s)).collect(),
        Style::Question => {
            let mut sizes = vec![(max, max); n / max];
            let rest = n % max;
            if rest > 0 {
                sizes.push((rest, rest.next_power_of_two()));
            }
            sizes
        }
    }
}

/// One statement's share of a list: the items it binds, and the rows its text has (more than
/// the items only on SQLite; see [`statement_sizes`]).
pub struct Part<'a, T> {
    pub items: &'a [T],
    pub rows: usize,
}

impl<T> Part<'_, T> {
    /// NULL parameters to bind after the items, for rows of `width` parameters.
    pub fn padding(&self, width: usize) -> usize {
        (self.rows - self.items.len()) * width
    }
}

/// `items` cut into statements of at most `max` rows, as [`statement_sizes`] says.
pub fn parts_of<T>(style: Style, items: &[T], max: usize) -> Vec<Part<'_, T>> {
    let mut at = 0;
    statement_sizes(style, items.len(), max)
        .into_iter()
        .map(|(n, rows)| {
            let part = Part {
                items: &items[at..at + n],
                rows,
            };
            at += n;
            part
        })
        .collect()
}

/// `items` cut into statements: at most `cap` rows (and the parameter limit for `width`
/// parameters a row), and on PostgreSQL about [`PG_STATEMENT_BYTES`] of parameters, `bytes`
/// estimating a row's.
pub fn parts<T>(style: Style, items: &[T], width: usize, cap: usize, bytes: impl Fn(&T) -> usize) -> Vec<Part<'_, T>> {
    let cap = match style {
        Style::Question => cap,
        Style::Dollar => cap.min(byte_cap(items.iter().map(bytes).sum(), items.len(), PG_STATEMENT_BYTES)),
    };
    parts_of(style, items, max_rows(width, 0, cap))
}

/// `head` (`INSERT INTO t (columns)`), `rows` rows of `row` (see [`values`]), then `tail`
/// (`ON CONFLICT …`). On SQLite the rows come from a `SELECT` that skips padding rows (a NULL
/// first parameter; `row` must start with one), so a padded statement inserts only its items.
pub fn insert_values(s: Style, head: &str, rows: usize, row: &[&str], tail: &str) -> String {
    debug_assert_eq!(row.first(), Some(&"?"));
    match s {
        Style::Dollar => format!("{head} VALUES {} {tail}", values(s, rows, 1, row)),
        Style::Question => format!(
            "{head} SELECT * FROM (VALUES {}) WHERE column1 IS NOT NULL {tail}",
            values(s, rows, 1, row)
        ),
    }
}

/// How a backend writes placeholders.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// `$1, $2, …` (PostgreSQL).
    Dollar,
    /// `?, ?, …`, bound in order (SQLite; see the module comment).
    Question,
}

impl Style {
    /// The placeholder of the `n`th parameter (1-based, in order of appearance).
    pub fn param(self, n: usize) -> String {
        match self {
            Style::Dollar => format!("${n}"),
            Style::Question => "?".to_string(),
        }
    }
}

/// A `VALUES` list of `rows` rows whose parameters are numbered from `first`. `row` is one
/// row's items: `?` is the next parameter, anything else (a literal) is copied as is.
/// `values(Style::Dollar, 2, 2, &["?", "0", "?"])` is `($2,0,$3),($4,0,$5)`.
pub fn values(style: Style, rows: usize, first: usize, row: &[&str]) -> String {
    let mut out = String::with_capacity(rows * row.len() * 6);
    let mut next = first;
    for r in 0..rows {
        if r > 0 {
            out.push(',');
        }
        out.push('(');
        for (i, item) in row.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            if *item == "?" {
                out.push_str(&style.param(next));
                next += 1;
            } else {
                out.push_str(item);
            }
        }
        out.push(')');
    }
    out
}

/// The `n` placeholders of an `IN (…)`, numbered from `first`.
pub fn in_list(style: Style, n: usize, first: usize) -> String {
    (first..first + n).map(|i| style.param(i)).collect::<Vec<_>>().join(",")
}

// The outbound queue's statements. Parameters are numbered in order of appearance (see
// [`Style`]) and bound in that order.

/// Per row: id, account_id, event_id, event_type, payload, labels, created_at.
pub fn insert_events(s: Style, n: usize) -> String {
    insert_values(
        s,
        "INSERT INTO webhook_events (id, account_id, event_id, event_type, payload, labels, created_at)",
        n,
        &["?"; 7],
        "ON CONFLICT (account_id, event_id) DO NOTHING",
    )
}

/// [`insert_events`] answering the ids of the rows it inserted (not those it skipped).
pub fn insert_events_returning(s: Style, n: usize) -> String {
    format!("{} RETURNING id", insert_events(s, n))
}

/// account_id, then `n` event ids.
pub fn find_events(s: Style, n: usize) -> String {
    format!(
        "SELECT id, event_id FROM webhook_events WHERE account_id = {} AND event_id IN ({})",
        s.param(1),
        in_list(s, n, 2)
    )
}

/// Per row: id, account_id, event_id, endpoint_id, then now three times (next attempt,
/// created, updated).
pub fn insert_deliveries(s: Style, n: usize) -> String {
    insert_values(
        s,
        "INSERT INTO webhook_deliveries (id, account_id, event_id, endpoint_id, status, attempts, next_attempt_at,
           lease_until, created_at, updated_at)",
        n,
        &["?", "?", "?", "?", "'pending'", "0", "?", "0", "?", "?"],
        "",
    )
}

/// now; then per row: delivery id, owner, status, next_attempt_at, last_status, last_error.
/// Only rows whose lease `owner` still holds move; their ids come back.
pub fn record_outcomes(s: Style, n: usize) -> String {
    format!(
        "UPDATE webhook_deliveries SET updated_at = {}, status = v.column3, attempts = webhook_deliveries.attempts + 1,
           next_attempt_at = v.column4, lease_owner = NULL, lease_until = 0, last_status = v.column5,
           last_error = v.column6
         FROM (VALUES {}) AS v
         WHERE webhook_deliveries.id = v.column1 AND webhook_deliveries.lease_owner = v.column2
         RETURNING webhook_deliveries.id",
        s.param(1),
        values(s, n, 2, &["?"; 6])
    )
}

/// Per row: delivery id, owner, next_attempt_at.
pub fn postpone(s: Style, n: usize) -> String {
    format!(
        "UPDATE webhook_deliveries SET next_attempt_at = v.column3, lease_owner = NULL, lease_until = 0
         FROM (VALUES {}) AS v
         WHERE webhook_deliveries.id = v.column1 AND webhook_deliveries.lease_owner = v.column2",
        values(s, n, 1, &["?"; 3])
    )
}

/// Per row: the 16 columns of an attempt.
pub fn insert_attempts(s: Style, n: usize) -> String {
    insert_values(
        s,
        "INSERT INTO webhook_attempts (id, delivery_id, account_id, event_id, endpoint_id, attempt, cause, succeeded,
           response_status, response_headers, response_body, request_headers, error_class, error_message, latency_ms,
           created_at)",
        n,
        &["?"; 16],
        "",
    )
}

/// Split `items` into consecutive runs in which `key` never repeats, keeping the order: a
/// multi-row `UPDATE … FROM (VALUES …)` may apply only one of two rows naming the same target.
pub fn runs_of_unique<T, K: Eq + std::hash::Hash>(items: &[T], key: impl Fn(&T) -> K) -> Vec<&[T]> {
    let mut runs = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut start = 0;
    for (i, item) in items.iter().enumerate() {
        if !seen.insert(key(item)) {
            runs.push(&items[start..i]);
            seen.clear();
            seen.insert(key(item));
            start = i;
        }
    }
    if start < items.len() {
        runs.push(&items[start..]);
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_rows_is_a_power_of_two_under_the_parameter_limit() {
        for (width, shared, cap) in [(6, 1, 512), (16, 1, 4096), (4, 1, 100_000), (7, 0, 3), (1, 0, 1)] {
            let m = max_rows(width, shared, cap);
            assert!(m.is_power_of_two(), "{m}");
            assert!(m <= cap);
            assert!(m * width + shared <= MAX_PARAMS, "{width} {shared} {cap} -> {m}");
        }
        assert_eq!(max_rows(4, 1, 100_000), 4096, "32,765 / 4 = 8,191 rounds down to 4,096");
        assert_eq!(max_rows(6, 1, 512), 512);
    }

    #[test]
    fn byte_caps_keep_statements_near_the_budget() {
        assert_eq!(byte_cap(100 * 150, 100, 8 * 1024), 54, "150-byte rows: 54 fit in 8 KiB");
        assert_eq!(
            byte_cap(2 << 20, 2, 8 * 1024),
            1,
            "a row larger than the budget still goes alone"
        );
        assert_eq!(byte_cap(0, 0, 8 * 1024), usize::MAX, "nothing to write caps nothing");
        assert_eq!(max_rows(7, 0, byte_cap(100 * 150, 100, 8 * 1024)), 32);
    }

    #[test]
    fn chunks_cover_every_row_with_few_distinct_sizes() {
        assert_eq!(chunk_sizes(0, 8), Vec::<usize>::new());
        assert_eq!(chunk_sizes(1, 8), vec![1]);
        assert_eq!(chunk_sizes(8, 8), vec![8]);
        assert_eq!(chunk_sizes(21, 8), vec![8, 8, 4, 1]);
        for n in 0..2_000 {
            let sizes = chunk_sizes(n, 256);
            assert_eq!(sizes.iter().sum::<usize>(), n);
            assert!(sizes.iter().all(|s| s.is_power_of_two() && *s <= 256));
        }
    }

    #[test]
    fn values_number_parameters_in_order_of_appearance() {
        assert_eq!(values(Style::Dollar, 2, 2, &["?", "0", "?"]), "($2,0,$3),($4,0,$5)");
        assert_eq!(
            values(Style::Dollar, 1, 1, &["?", "'pending'", "?"]),
            "($1,'pending',$2)"
        );
        assert_eq!(values(Style::Question, 2, 2, &["?", "0", "?"]), "(?,0,?),(?,0,?)");
        assert_eq!(values(Style::Dollar, 0, 1, &["?"]), "");
        assert_eq!(in_list(Style::Dollar, 3, 2), "$2,$3,$4");
        assert_eq!(in_list(Style::Question, 3, 2), "?,?,?");
    }

    #[test]
    fn statements_bind_in_the_same_order_on_both_backends() {
        let q = record_outcomes(Style::Question, 2);
        let d = record_outcomes(Style::Dollar, 2);
        assert_eq!(q.matches('?').count(), 13, "now, then 6 per row");
        assert!(d.contains("updated_at = $1") && d.contains("($2,$3,$4,$5,$6,$7),($8,$9,$10,$11,$12,$13)"));
        assert!(!d.contains("$14"));
        assert_eq!(insert_deliveries(Style::Question, 3).matches('?').count(), 21);
        assert!(find_events(Style::Dollar, 2).ends_with("account_id = $1 AND event_id IN ($2,$3)"));
    }

    #[test]
    fn runs_never_repeat_a_key_and_keep_order() {
        let items = [1, 2, 1, 3, 3, 4];
        let runs = runs_of_unique(&items, |i| *i);
        assert_eq!(runs, vec![&[1, 2][..], &[1, 3][..], &[3, 4][..]]);
        assert!(runs_of_unique(&[] as &[u8], |i| *i).is_empty());
    }
}
