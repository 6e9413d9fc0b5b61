//! Just enough rooms for the transaction-id clause (`txn.survives-refresh`): create a room, send
//! events with a transaction id, read them back.
//!
//! CS § Transaction identifiers: «The scope of a transaction ID is for a single device, and a
//! single HTTP endpoint.» A refreshed access token is on the same device, so a transaction id
//! survives a refresh.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value, json};

use crate::reference::ids::{SERVER_NAME, Session, UserId, random_alphanumeric};
use crate::reference::state::unix_ms;

/// Who a transaction id belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum TxnScope {
    /// The spec's scope.
    Device(Session),
    /// [`Fault::TxnNotKeptAcrossRefresh`](crate::reference::Fault::TxnNotKeptAcrossRefresh): per
    /// access token.
    AccessToken(String),
}

/// A transaction id in its scope and endpoint (`PUT /rooms/{room}/send/{type}/{txn}`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct TxnKey {
    pub(crate) scope: TxnScope,
    pub(crate) room_id: String,
    pub(crate) event_type: String,
    pub(crate) txn_id: String,
}

#[derive(Debug)]
struct Event {
    event_id: String,
    event_type: String,
    content: Map<String, Value>,
    sender: Session,
    txn_id: String,
    origin_server_ts: u64,
}

#[derive(Debug)]
struct Room {
    members: HashSet<UserId>,
    events: Vec<Event>,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct NotInRoom;

#[derive(Debug, Default)]
pub(crate) struct Rooms {
    rooms: HashMap<String, Room>,
    sent: HashMap<TxnKey, String>,
}

impl Rooms {
    pub(crate) fn create(&mut self, creator: &UserId) -> String {
        let room_id = format!("!{}:{SERVER_NAME}", random_alphanumeric(18));
        let room = Room {
            members: HashSet::from([creator.clone()]),
            events: Vec::new(),
        };
        self.rooms.insert(room_id.clone(), room);
        room_id
    }

    /// Sends an event, or returns the event of an earlier request with the same transaction key:
    /// «Where a retransmission has been identified, the homeserver should return the same HTTP
    /// response code and content as the original request.»
    pub(crate) fn send(
        &mut self,
        key: TxnKey,
        sender: &Session,
        content: Map<String, Value>,
    ) -> Result<String, NotInRoom> {
        let room = self
            .rooms
            .get_mut(&key.room_id)
            .filter(|room| room.members.contains(&sender.user))
            .ok_or(NotInRoom)?;
        if let Some(event_id) = self.sent.get(&key) {
            return Ok(event_id.clone());
        }
        let event_id = format!("${}", random_alphanumeric(24));
        room.events.push(Event {
            event_id: event_id.clone(),
            event_type: key.event_type.clone(),
            content,
            sender: sender.clone(),
            txn_id: key.txn_id.clone(),
            origin_server_ts: unix_ms(),
        });
        self.sent.insert(key, event_id.clone());
        Ok(event_id)
    }

    /// Up to `limit` events, newest first when `backwards`. `unsigned.transaction_id` is shown to
    /// the sending device only (CS § Room Events: «The client-supplied transaction ID, … if the
    /// client being given the event is the same one which sent it»).
    pub(crate) fn messages(
        &self,
        room_id: &str,
        viewer: &Session,
        backwards: bool,
        limit: usize,
    ) -> Result<Vec<Value>, NotInRoom> {
        let room = self
            .rooms
            .get(room_id)
            .filter(|room| room.members.contains(&viewer.user))
            .ok_or(NotInRoom)?;
        let render = |event: &Event| {
            let mut value = json!({
                "event_id": event.event_id,
                "type": event.event_type,
                "content": event.content,
                "sender": event.sender.user.as_str(),
                "room_id": room_id,
                "origin_server_ts": event.origin_server_ts,
            });
            if event.sender == *viewer {
                value["unsigned"] = json!({"transaction_id": event.txn_id});
            }
            value
        };
        let events: Vec<Value> = if backwards {
            room.events.iter().rev().take(limit).map(render).collect()
        } else {
            room.events.iter().take(limit).map(render).collect()
        };
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::ids::DeviceId;

    #[test]
    fn retransmission_returns_the_same_event() {
        let mut rooms = Rooms::default();
        let alice = Session {
            user: UserId::from_localpart("alice").unwrap(),
            device: DeviceId::generate(),
        };
        let room_id = rooms.create(&alice.user);
        let key = |txn: &str| TxnKey {
            scope: TxnScope::Device(alice.clone()),
            room_id: room_id.clone(),
            event_type: "m.room.message".into(),
            txn_id: txn.into(),
        };
        let first = rooms.send(key("t1"), &alice, Map::new()).unwrap();
        assert_eq!(rooms.send(key("t1"), &alice, Map::new()).unwrap(), first);
        assert_ne!(rooms.send(key("t2"), &alice, Map::new()).unwrap(), first);
        let events = rooms.messages(&room_id, &alice, true, 10).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[1]["unsigned"]["transaction_id"], "t1");

        let bob = Session {
            user: UserId::from_localpart("bob").unwrap(),
            device: DeviceId::generate(),
        };
        assert_eq!(rooms.messages(&room_id, &bob, true, 10), Err(NotInRoom));
        assert_eq!(rooms.send(key("t3"), &bob, Map::new()), Err(NotInRoom));
    }
}
