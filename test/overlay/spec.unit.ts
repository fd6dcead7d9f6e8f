/** Overlay specs, host subnets and the per-host backend choice: no etcd, no kernel. */
import assert from 'node:assert/strict';

import { ValidationError } from '../../lib';
import { parseSubnet } from '../../lib/engine/ipam';
import { DataPlane, vtepMacFor, type Underlay } from '../../lib/engine/overlay/dataplane';
import { hostSubnets, keySubnet, subnetKey } from '../../lib/engine/overlay/leases';
import { validateOverlay } from '../../lib/engine/overlay/spec';
import type { Rtnl } from '../../lib/rtnl';

const etcd = { endpoints: ['http://127.0.0.1:2379'] };

describe('overlay spec', function () {
  it('fills defaults: /24 per host, vxlan, VNI 1, port 4789, TTL 10 s', function () {
    const o = validateOverlay('10.244.0.0/16', { etcd }, 'abcdef0123456789');
    assert.deepEqual(o, {
      cluster: '10.244.0.0/16',
      hostSubnetLength: 24,
      backend: 'vxlan',
      vni: 1,
      port: 4789,
      etcd: { endpoints: ['http://127.0.0.1:2379'], prefix: '/netplumb/overlay', ttl: 10 },
      underlay: {},
      vxlan: 'npx-abcdef01',
    });
  });

  it('refuses what cannot work, naming the field', function () {
    const cases: [string, unknown, unknown][] = [
      ['subnet', '10.244.0.0/33', { etcd }],
      ['subnet', 'fd00::/64', { etcd }],
      ['overlay.hostSubnetLength', '10.244.0.0/24', { etcd }],
      ['overlay.hostSubnetLength', '10.0.0.0/8', { etcd, hostSubnetLength: 25 }],
      ['overlay.hostSubnetLength', '10.244.0.0/16', { etcd, hostSubnetLength: 31 }],
      ['overlay.etcd', '10.244.0.0/16', {}],
      ['overlay.etcd.endpoints[0]', '10.244.0.0/16', { etcd: { endpoints: ['http://a:1/path'] } }],
      ['overlay.etcd.foo', '10.244.0.0/16', { etcd: { ...etcd, foo: 1 } }],
      ['overlay.underlay.address', '10.244.0.0/16', { etcd, underlay: { address: 'fe80::1' } }],
      ['overlay.underlay.mtu', '10.244.0.0/16', { etcd, underlay: { mtu: 9000 } }],
      ['overlay.vxlanPort', '10.244.0.0/16', { etcd, vxlanPort: 1 }],
    ];
    for (const [field, subnet, opts] of cases) {
      assert.throws(
        () => validateOverlay(subnet, opts, 'abcdef0123456789'),
        (err: unknown) => err instanceof ValidationError && err.field === field,
        `${field} ${JSON.stringify(opts)}`,
      );
    }
  });

  it('cuts the cluster CIDR into host subnets and names their etcd keys', function () {
    const all = [...hostSubnets(parseSubnet('10.245.0.0/21', 's', 4), 24)];
    assert.deepEqual(
      all,
      [0, 1, 2, 3, 4, 5, 6, 7].map((i) => `10.245.${i}.0/24`),
    );
    assert.equal([...hostSubnets(parseSubnet('10.0.0.0/8', 's', 4), 24)].length, 65536);
    assert.equal(subnetKey('10.244.3.0/24'), '10.244.3.0-24');
    assert.equal(keySubnet('10.244.3.0-24'), '10.244.3.0/24');
  });

  it('derives a stable, locally administered unicast VTEP MAC', function () {
    const a = vtepMacFor('id1', '192.168.0.1', 1);
    assert.equal(a, vtepMacFor('id1', '192.168.0.1', 1));
    assert.notEqual(a, vtepMacFor('id1', '192.168.0.2', 1));
    assert.equal(parseInt(a.slice(0, 2), 16) & 0x03, 0x02);
  });

  it('auto routes on-link hosts directly and encapsulates the others; direct skips the others', function () {
    const underlay: Underlay = {
      index: 2,
      name: 'eth0',
      mtu: 1500,
      address: '192.168.1.10',
      prefixes: [parseSubnet('192.168.1.0/24', 'p', 4)],
    };
    const lease = (ip: string) => ({
      subnet: '10.244.9.0/24',
      publicIp: ip,
      vtepMac: '02:00:00:00:00:01',
      node: 'n',
      hostname: 'h',
    });
    const plane = (backend: 'vxlan' | 'direct' | 'auto'): DataPlane =>
      new DataPlane(
        undefined as unknown as Rtnl,
        { ...validateOverlay('10.244.0.0/16', { etcd, backend }, 'abcdef0123456789') },
        underlay,
        '10.244.1.0/24',
      );
    assert.equal(plane('auto').viaFor(lease('192.168.1.20')), 'direct');
    assert.equal(plane('auto').viaFor(lease('192.168.2.20')), 'vxlan');
    assert.equal(plane('vxlan').viaFor(lease('192.168.1.20')), 'vxlan');
    assert.equal(plane('direct').viaFor(lease('192.168.1.20')), 'direct');
    assert.equal(plane('direct').viaFor(lease('192.168.2.20')), 'unreachable');
    assert.equal(
      DataPlane.mtuFor(validateOverlay('10.244.0.0/16', { etcd }, 'abcdef0123456789'), underlay),
      1450,
    );
  });
});
