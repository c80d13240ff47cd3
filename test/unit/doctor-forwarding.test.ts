/** `hob doctor`'s forwarding check: which other firewalls drop the sandboxes' forwarded traffic. */
import { describe, expect, it } from 'vitest';
import { forwardDropChains } from '../../daemon/cli/doctor/network.js';

const DOCKER_LIKE = `table ip filter {
	chain DOCKER-USER {
		return
	}

	chain FORWARD {
		type filter hook forward priority filter; policy drop;
		counter packets 0 bytes 0 jump DOCKER-USER
	}
}
table inet hob {
	chain forward {
		type filter hook forward priority filter; policy drop;
	}
}
table inet accepting {
	chain fwd {
		type filter hook forward priority filter; policy accept;
	}
	chain in {
		type filter hook input priority filter; policy drop;
	}
}`;

describe('forwardDropChains', () => {
  it('names forward base chains with a drop policy outside hob\'s table', () => {
    expect(forwardDropChains(DOCKER_LIKE)).toEqual(['table ip filter / chain FORWARD']);
  });
  it('finds nothing in an empty or accepting ruleset', () => {
    expect(forwardDropChains('')).toEqual([]);
    expect(forwardDropChains(DOCKER_LIKE.replace('policy drop;\n\t\tcounter', 'policy accept;\n\t\tcounter'))).toEqual([]);
  });
});
