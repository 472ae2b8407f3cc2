//! The compare-and-set script: one state's whole update, atomic in Redis.
//!
//! A node loads a state (with its revision), applies its events, and asks Redis to store the
//! result only if the revision is still the one it loaded. If another node stored first, the
//! script changes nothing and answers `-1`; the node reloads and applies again on the fresher
//! state (the events already reflected are skipped by their log positions). The script also
//! indexes the key under its subject and refreshes the TTL, in the same step.

/// `KEYS[1]` state hash, `KEYS[2]` subject index. `ARGV`: expected revision, reducer version,
/// applied positions (JSON), state (JSON), writer node, index member, TTL in ms (0: none).
/// Returns the new revision, or -1 when the expected revision is not the stored one.
pub(crate) const CAS: &str = r#"
local rev = tonumber(redis.call('HGET', KEYS[1], 'rev') or '0')
if rev ~= tonumber(ARGV[1]) then
  return -1
end
rev = rev + 1
redis.call('HSET', KEYS[1], 'rev', rev, 'ver', ARGV[2], 'app', ARGV[3], 'st', ARGV[4], 'by', ARGV[5])
redis.call('SADD', KEYS[2], ARGV[6])
local ttl = tonumber(ARGV[7])
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
end
return rev
"#;

/// Renews the lease `KEYS[1]` for `ARGV[1]` by `ARGV[2]` ms if it still holds it; 1 or 0.
pub(crate) const RENEW: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"#;

/// Gives the lease `KEYS[1]` up if `ARGV[1]` holds it.
pub(crate) const RELEASE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"#;

/// The SHA-1 Redis knows a script by (`EVALSHA`).
pub(crate) fn sha(script: &str) -> String {
    fred::util::sha1_hash(script)
}

#[cfg(test)]
mod tests {
    #[test]
    fn sha_is_redis_s() {
        // `redis-cli SCRIPT LOAD "return 1"`
        assert_eq!(
            super::sha("return 1"),
            "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"
        );
    }
}
