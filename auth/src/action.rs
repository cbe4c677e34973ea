//! What a request wants to do to a tenant.

use std::fmt;
use std::str::FromStr;

/// An action on a tenant, decided once per request whatever the protocol (ChartMuseum API,
/// repository files, later OCI).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// Read: `index.yaml`, chart and provenance files, API reads.
    Pull,
    /// Upload a chart or a provenance file.
    Push,
    /// Delete a chart version.
    Delete,
}

impl Action {
    /// Every action, in a stable order.
    pub const ALL: [Action; 3] = [Action::Pull, Action::Push, Action::Delete];

    /// The name used in the auth config file and in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push => "push",
            Action::Delete => "delete",
        }
    }

    /// The action ChartMuseum checks for this one: its delete route requires `push`, so a JWT
    /// `push` grant covers delete and a bearer challenge for a delete asks for `push`.
    pub fn chartmuseum_action(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push | Action::Delete => "push",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text is not one of `pull`, `push`, `delete`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownAction;

impl fmt::Display for UnknownAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an action is one of pull, push, delete")
    }
}

impl std::error::Error for UnknownAction {}

impl FromStr for Action {
    type Err = UnknownAction;

    fn from_str(text: &str) -> Result<Action, UnknownAction> {
        match text {
            "pull" => Ok(Action::Pull),
            "push" => Ok(Action::Push),
            "delete" => Ok(Action::Delete),
            _ => Err(UnknownAction),
        }
    }
}

/// A small set of actions (a bit per action).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ActionSet(u8);

impl ActionSet {
    /// No action.
    pub const EMPTY: ActionSet = ActionSet(0);

    fn bit(action: Action) -> u8 {
        match action {
            Action::Pull => 1,
            Action::Push => 2,
            Action::Delete => 4,
        }
    }

    /// Adds `action`.
    pub fn insert(&mut self, action: Action) {
        self.0 |= Self::bit(action);
    }

    /// Whether `action` is in the set.
    pub fn contains(self, action: Action) -> bool {
        self.0 & Self::bit(action) != 0
    }

    /// Whether no action is in the set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The actions in the set, in [`Action::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Action> {
        Action::ALL.into_iter().filter(move |action| self.contains(*action))
    }
}

impl FromIterator<Action> for ActionSet {
    fn from_iter<I: IntoIterator<Item = Action>>(iter: I) -> ActionSet {
        let mut set = ActionSet::EMPTY;
        iter.into_iter().for_each(|action| set.insert(action));
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_fail() {
        for action in Action::ALL {
            assert_eq!(action.as_str().parse::<Action>(), Ok(action));
        }
        assert_eq!("Pull".parse::<Action>(), Err(UnknownAction));
        assert_eq!("admin".parse::<Action>(), Err(UnknownAction));
        assert_eq!(Action::Delete.chartmuseum_action(), "push");
    }

    #[test]
    fn action_set() {
        let set: ActionSet = [Action::Push, Action::Pull].into_iter().collect();
        assert!(set.contains(Action::Pull) && set.contains(Action::Push) && !set.contains(Action::Delete));
        assert_eq!(set.iter().collect::<Vec<_>>(), vec![Action::Pull, Action::Push]);
        assert!(ActionSet::EMPTY.is_empty());
    }
}
