//! Queue allocation among the members of a consumer group.

use sluice_remoting::body::MessageQueue;

/// The Java default (`AllocateMessageQueueAveragely`): with `queues` and `members` sorted, each
/// member takes a contiguous block; the first `queues % members` members take one more. A member
/// not in the list gets nothing.
pub fn allocate_average(
    me: &str,
    queues: &[MessageQueue],
    members: &[String],
) -> Vec<MessageQueue> {
    let Some(index) = members.iter().position(|m| m == me) else {
        return Vec::new();
    };
    if queues.is_empty() {
        return Vec::new();
    }
    let (n, m) = (queues.len(), members.len());
    let rem = n % m;
    let size = if n <= m {
        1
    } else if rem > 0 && index < rem {
        n / m + 1
    } else {
        n / m
    };
    let start = if rem > 0 && index < rem {
        index * size
    } else {
        index * size + rem
    };
    let range = size.min(n.saturating_sub(start));
    (0..range)
        .map(|i| queues[(start + i) % n].clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queues(n: i32) -> Vec<MessageQueue> {
        (0..n).map(|i| MessageQueue::new("T", "b", i)).collect()
    }

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("c{i}")).collect()
    }

    #[test]
    fn every_queue_has_exactly_one_owner() {
        for nq in 0..12 {
            for nm in 1..6 {
                let qs = queues(nq);
                let members = ids(nm);
                let mut all: Vec<MessageQueue> = members
                    .iter()
                    .flat_map(|m| allocate_average(m, &qs, &members))
                    .collect();
                all.sort();
                assert_eq!(all, qs, "{nq} queues, {nm} members");
            }
        }
    }

    #[test]
    fn matches_the_java_blocks() {
        let qs = queues(5);
        let members = ids(2);
        assert_eq!(allocate_average("c0", &qs, &members), qs[0..3].to_vec());
        assert_eq!(allocate_average("c1", &qs, &members), qs[3..5].to_vec());
        assert!(allocate_average("stranger", &qs, &members).is_empty());
        // More members than queues: the last ones idle.
        let members = ids(4);
        assert_eq!(
            allocate_average("c1", &queues(2), &members),
            queues(2)[1..2].to_vec()
        );
        assert!(allocate_average("c3", &queues(2), &members).is_empty());
    }
}
