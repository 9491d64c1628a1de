//! Fault injection, controlled from tests.
//!
//! Rules apply to data requests (AS_MSG messages: single-record commands and whole batch
//! requests), never to info requests, so the client can still tend the cluster. Requests are
//! numbered cluster-wide from 1, counted from the moment a rule is added.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::store::lock;

/// What a matching rule does to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultAction {
    /// Wait this long before handling the request (it is then handled normally).
    Delay(Duration),
    /// Close the connection after reading the request, without answering or applying it.
    DropConnection,
    /// Apply the request, write the first half of the answer, then close the connection.
    DropMidResponse,
    /// Answer with this result code without applying the request. In a batch every row gets
    /// the code (as a real server reports a per-record timeout, overload or busy key).
    Answer(u8),
}

/// Which requests a rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// Every request.
    Always,
    /// Only the n-th request (1-based) after the rule was added.
    Nth(u64),
    /// The next n requests after the rule was added.
    Next(u64),
}

/// A fault rule: a trigger, an action, and optionally the one node it applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultRule {
    /// Which requests match.
    pub trigger: Trigger,
    /// What happens to them.
    pub action: FaultAction,
    /// Only requests to this node (index in the cluster), or any node.
    pub node: Option<usize>,
}

struct Armed {
    rule: FaultRule,
    /// Value of the request counter when the rule was added.
    base: u64,
}

/// Decision for one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Decision {
    /// Total delay before handling.
    pub delay: Option<Duration>,
    /// Close without answering.
    pub drop: bool,
    /// Close halfway through the answer.
    pub drop_mid_response: bool,
    /// Answer with this code instead of applying.
    pub answer: Option<u8>,
}

/// The fault rules of a cluster, plus its data-request counter.
#[derive(Default)]
pub struct Faults {
    rules: Mutex<Vec<Armed>>,
    requests: AtomicU64,
    injected: AtomicU64,
    /// Per-record answers: (digest, result code).
    records: Mutex<Vec<([u8; 20], u8)>>,
    any_record_rule: AtomicBool,
}

impl Faults {
    /// Adds a rule.
    pub fn add(&self, rule: FaultRule) {
        let base = self.requests.load(Ordering::SeqCst);
        lock(&self.rules).push(Armed { rule, base });
    }

    /// Delays every request by `d`.
    pub fn delay_all(&self, d: Duration) {
        self.add(FaultRule {
            trigger: Trigger::Always,
            action: FaultAction::Delay(d),
            node: None,
        });
    }

    /// Answers the n-th next request (1-based) with result code `code`.
    pub fn fail_nth(&self, n: u64, code: u8) {
        self.add(FaultRule {
            trigger: Trigger::Nth(n),
            action: FaultAction::Answer(code),
            node: None,
        });
    }

    /// Answers the next `count` requests with result code `code`.
    pub fn fail_next(&self, count: u64, code: u8) {
        self.add(FaultRule {
            trigger: Trigger::Next(count),
            action: FaultAction::Answer(code),
            node: None,
        });
    }

    /// Drops the connection of the n-th next request (1-based) without answering it.
    pub fn drop_nth(&self, n: u64) {
        self.add(FaultRule {
            trigger: Trigger::Nth(n),
            action: FaultAction::DropConnection,
            node: None,
        });
    }

    /// Answers every command on the record `digest` (alone, or as a row of a batch) with
    /// result code `code` without applying it, until [`clear`](Self::clear). Other records of
    /// the same batch are handled normally.
    pub fn fail_record(&self, digest: [u8; 20], code: u8) {
        let mut records = lock(&self.records);
        records.retain(|(d, _)| *d != digest);
        records.push((digest, code));
        self.any_record_rule.store(true, Ordering::SeqCst);
    }

    /// Removes every rule, per-record ones included.
    pub fn clear(&self) {
        lock(&self.rules).clear();
        lock(&self.records).clear();
        self.any_record_rule.store(false, Ordering::SeqCst);
    }

    /// The code a per-record rule answers for `digest`, if any.
    pub(crate) fn record_code(&self, digest: &[u8; 20]) -> Option<u8> {
        if !self.any_record_rule.load(Ordering::Relaxed) {
            return None;
        }
        let code = lock(&self.records)
            .iter()
            .find(|(d, _)| d == digest)
            .map(|(_, c)| *c);
        if code.is_some() {
            self.injected.fetch_add(1, Ordering::SeqCst);
        }
        code
    }

    /// Data requests received so far by the whole cluster.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }

    /// Requests a rule changed (answered, dropped or delayed) so far.
    pub fn injected(&self) -> u64 {
        self.injected.load(Ordering::SeqCst)
    }

    /// Counts one data request to `node` and decides what happens to it.
    pub(crate) fn on_request(&self, node: usize) -> Decision {
        let n = self.requests.fetch_add(1, Ordering::SeqCst) + 1;
        let mut rules = lock(&self.rules);
        if rules.is_empty() {
            return Decision::default();
        }
        let mut d = Decision::default();
        for armed in rules.iter() {
            let r = &armed.rule;
            if r.node.is_some_and(|x| x != node) {
                continue;
            }
            let k = n - armed.base;
            let hit = match r.trigger {
                Trigger::Always => true,
                Trigger::Nth(m) => k == m,
                Trigger::Next(m) => k <= m,
            };
            if !hit {
                continue;
            }
            match r.action {
                FaultAction::Delay(x) => d.delay = Some(d.delay.unwrap_or_default() + x),
                FaultAction::DropConnection => d.drop = true,
                FaultAction::DropMidResponse => d.drop_mid_response = true,
                FaultAction::Answer(code) => d.answer = Some(code),
            }
        }
        rules.retain(|a| match a.rule.trigger {
            Trigger::Always => true,
            Trigger::Nth(m) | Trigger::Next(m) => n - a.base < m,
        });
        if d != Decision::default() {
            self.injected.fetch_add(1, Ordering::SeqCst);
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nth_and_next_fire_once_and_expire() {
        let f = Faults::default();
        f.on_request(0);
        f.fail_nth(2, 9);
        assert_eq!(f.on_request(0).answer, None);
        assert_eq!(f.on_request(0).answer, Some(9));
        assert_eq!(f.on_request(0).answer, None);
        f.fail_next(2, 18);
        assert_eq!(f.on_request(1).answer, Some(18));
        assert_eq!(f.on_request(1).answer, Some(18));
        assert_eq!(f.on_request(1).answer, None);
        assert_eq!(f.injected(), 3);
        assert_eq!(f.requests(), 7);
    }

    #[test]
    fn record_rules_match_one_digest() {
        let f = Faults::default();
        assert_eq!(f.record_code(&[1; 20]), None);
        f.fail_record([1; 20], 22);
        f.fail_record([1; 20], 13);
        assert_eq!(f.record_code(&[1; 20]), Some(13));
        assert_eq!(f.record_code(&[2; 20]), None);
        assert_eq!(f.injected(), 1);
        f.clear();
        assert_eq!(f.record_code(&[1; 20]), None);
    }

    #[test]
    fn node_filter_and_clear() {
        let f = Faults::default();
        f.add(FaultRule {
            trigger: Trigger::Always,
            action: FaultAction::DropConnection,
            node: Some(1),
        });
        assert!(!f.on_request(0).drop);
        assert!(f.on_request(1).drop);
        f.clear();
        assert!(!f.on_request(1).drop);
    }
}
