//! Which endpoints an event goes to (pure), and what names event types and labels may take:
//! shared by publishing, the store (which fans bot events out inside its transaction) and the API.

/// An endpoint's subscription: event types (`None` = all) and labels the event must all carry.
#[derive(Clone, Debug, Default)]
pub struct Subscription {
    pub event_types: Option<Vec<String>>,
    pub labels: Vec<String>,
}

impl Subscription {
    pub fn matches(&self, event_type: &str, labels: &[String]) -> bool {
        let type_ok = match &self.event_types {
            None => true,
            Some(types) => types.iter().any(|t| t == event_type),
        };
        type_ok && self.labels.iter().all(|l| labels.contains(l))
    }
}

/// Event type names: 1–100 characters of `a-z A-Z 0-9 . _ -`, e.g. `order.created`.
pub fn valid_type_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Labels: 1–100 printable characters without spaces or commas.
pub fn valid_label(label: &str) -> bool {
    !label.is_empty() && label.len() <= 100 && label.chars().all(|c| !c.is_control() && c != ' ' && c != ',')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriptions_match_types_and_all_labels() {
        let all = Subscription::default();
        assert!(all.matches("x", &[]));
        let s = Subscription {
            event_types: Some(vec!["order.created".into()]),
            labels: vec!["moscow".into(), "vip".into()],
        };
        let labels = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(s.matches("order.created", &labels(&["vip", "moscow", "extra"])));
        assert!(!s.matches("order.created", &labels(&["vip"])));
        assert!(!s.matches("order.paid", &labels(&["vip", "moscow"])));
        let none = Subscription {
            event_types: Some(vec![]),
            labels: vec![],
        };
        assert!(!none.matches("x", &[]));
    }

    #[test]
    fn names_and_labels() {
        assert!(valid_type_name("order.created"));
        assert!(!valid_type_name(""));
        assert!(!valid_type_name("a b"));
        assert!(!valid_type_name(&"a".repeat(101)));
        assert!(valid_label("city:moscow"));
        assert!(!valid_label("a,b"));
    }
}
