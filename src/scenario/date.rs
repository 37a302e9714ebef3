//! strftime-style date formats (`%d.%m.%Y`) for `expected_input.type = "date"`, parsed by hand:
//! only the directives a scenario needs, with strptime's leniency (one- or two-digit day and
//! month, any amount of whitespace where the format has a space).

use time::{Date, Month};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Item {
    Day,
    Month,
    Year4,
    Year2,
    Hour,
    Minute,
    Second,
    Space,
    Lit(char),
}

/// A compiled date format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DateFormat {
    items: Vec<Item>,
}

/// A parsed date, with the time of day when the format has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parsed {
    pub date: Date,
    pub time: Option<(u8, u8, Option<u8>)>,
}

impl Parsed {
    /// `YYYY-MM-DD`, or `YYYY-MM-DD HH:MM[:SS]` when the format carries a time.
    pub fn normalised(&self) -> String {
        let d = iso(self.date);
        match self.time {
            None => d,
            Some((h, m, None)) => format!("{d} {h:02}:{m:02}"),
            Some((h, m, Some(s))) => format!("{d} {h:02}:{m:02}:{s:02}"),
        }
    }
}

pub fn iso(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

impl DateFormat {
    pub fn parse_format(fmt: &str) -> Result<DateFormat, String> {
        let mut items = Vec::new();
        let mut chars = fmt.chars();
        while let Some(c) = chars.next() {
            let item = match c {
                '%' => match chars.next() {
                    Some('d') => Item::Day,
                    Some('m') => Item::Month,
                    Some('Y') => Item::Year4,
                    Some('y') => Item::Year2,
                    Some('H') => Item::Hour,
                    Some('M') => Item::Minute,
                    Some('S') => Item::Second,
                    Some('%') => Item::Lit('%'),
                    Some(o) => {
                        return Err(format!("unsupported directive '%{o}' (use %d %m %Y %y %H %M %S)"));
                    }
                    None => return Err("format ends with a lone '%'".into()),
                },
                c if c.is_whitespace() => Item::Space,
                c => Item::Lit(c),
            };
            items.push(item);
        }
        let has = |want: &[Item]| items.iter().any(|i| want.contains(i));
        if !has(&[Item::Day]) || !has(&[Item::Month]) || !has(&[Item::Year4, Item::Year2]) {
            return Err("a date format needs a day (%d), a month (%m) and a year (%Y or %y)".into());
        }
        Ok(DateFormat { items })
    }

    /// Parses user input; `None` when it does not match the format or is not a real date.
    pub fn parse(&self, input: &str) -> Option<Parsed> {
        let chars: Vec<char> = input.trim().chars().collect();
        let mut i = 0;
        let (mut day, mut month, mut year) = (None, None, None);
        let (mut hour, mut minute, mut second) = (None, None, None);
        for item in &self.items {
            match item {
                Item::Space => {
                    while chars.get(i).is_some_and(|c| c.is_whitespace()) {
                        i += 1;
                    }
                }
                Item::Lit(c) => {
                    if chars.get(i) != Some(c) {
                        return None;
                    }
                    i += 1;
                }
                Item::Year4 => year = Some(digits(&chars, &mut i, 4, 4)? as i32),
                Item::Year2 => {
                    let y = digits(&chars, &mut i, 2, 2)? as i32;
                    // POSIX strptime: 69–99 are 1969–1999, 00–68 are 2000–2068.
                    year = Some(if y >= 69 { 1900 + y } else { 2000 + y });
                }
                Item::Day => day = Some(digits(&chars, &mut i, 1, 2)?),
                Item::Month => month = Some(digits(&chars, &mut i, 1, 2)?),
                Item::Hour => hour = Some(digits(&chars, &mut i, 1, 2)?),
                Item::Minute => minute = Some(digits(&chars, &mut i, 1, 2)?),
                Item::Second => second = Some(digits(&chars, &mut i, 1, 2)?),
            }
        }
        if i != chars.len() {
            return None;
        }
        let month = Month::try_from(u8::try_from(month?).ok()?).ok()?;
        let date = Date::from_calendar_date(year?, month, u8::try_from(day?).ok()?).ok()?;
        let small = |v: u32, max: u32| u8::try_from(v).ok().filter(|_| v <= max);
        let time = match (hour, minute) {
            (None, None) if second.is_none() => None,
            (h, m) => Some((
                small(h.unwrap_or(0), 23)?,
                small(m.unwrap_or(0), 59)?,
                match second {
                    Some(s) => Some(small(s, 59)?),
                    None => None,
                },
            )),
        };
        Some(Parsed { date, time })
    }

    /// The format as a person reads it, e.g. `DD.MM.YYYY`.
    pub fn human(&self) -> String {
        self.render(|item| match item {
            Item::Day => "DD".into(),
            Item::Month => "MM".into(),
            Item::Year4 => "YYYY".into(),
            Item::Year2 => "YY".into(),
            Item::Hour => "HH".into(),
            Item::Minute => "MM".into(),
            Item::Second => "SS".into(),
            _ => String::new(),
        })
    }

    /// A date (at 09:30) written in this format, for examples and bound messages.
    pub fn write(&self, d: Date) -> String {
        self.render(|item| match item {
            Item::Day => format!("{:02}", d.day()),
            Item::Month => format!("{:02}", u8::from(d.month())),
            Item::Year4 => format!("{:04}", d.year()),
            Item::Year2 => format!("{:02}", d.year().rem_euclid(100)),
            Item::Hour => "09".into(),
            Item::Minute => "30".into(),
            Item::Second => "00".into(),
            _ => String::new(),
        })
    }

    fn render(&self, f: impl Fn(Item) -> String) -> String {
        self.items
            .iter()
            .map(|&item| match item {
                Item::Space => " ".to_string(),
                Item::Lit(c) => c.to_string(),
                other => f(other),
            })
            .collect()
    }
}

/// Reads between `min` and `max` ASCII digits.
fn digits(chars: &[char], i: &mut usize, min: usize, max: usize) -> Option<u32> {
    let mut value = 0u32;
    let mut n = 0;
    while n < max {
        match chars
            .get(*i)
            .and_then(|c| c.to_digit(10).filter(|_| c.is_ascii_digit()))
        {
            Some(d) => {
                value = value * 10 + d;
                *i += 1;
                n += 1;
            }
            None => break,
        }
    }
    (n >= min).then_some(value)
}

/// Parses a bound written as `YYYY-MM-DD` or in the step's own format.
pub fn parse_bound(s: &str, fmt: &DateFormat) -> Option<Date> {
    let iso_fmt = DateFormat {
        items: vec![Item::Year4, Item::Lit('-'), Item::Month, Item::Lit('-'), Item::Day],
    };
    iso_fmt.parse(s).or_else(|| fmt.parse(s)).map(|p| p.date)
}
