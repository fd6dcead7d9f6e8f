import assert from 'node:assert/strict';

import { ValidationError } from '../../lib';
import { parseExpose, parsePublish } from '../../lib/engine/ports';

describe('port specs (-p, --expose)', () => {
  it('parses every form Docker accepts', () => {
    assert.deepEqual(parsePublish('8080:80'), [
      { protocol: 'tcp', hostIp: '', hostPort: 8080, containerPort: 80 },
    ]);
    assert.deepEqual(parsePublish('127.0.0.1:8080:80'), [
      { protocol: 'tcp', hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80 },
    ]);
    assert.deepEqual(parsePublish('127.0.0.1::80/udp'), [
      { protocol: 'udp', hostIp: '127.0.0.1', hostPort: 0, containerPort: 80 },
    ]);
    assert.deepEqual(parsePublish('80'), [
      { protocol: 'tcp', hostIp: '', hostPort: 0, containerPort: 80 },
    ]);
    assert.deepEqual(parsePublish('0.0.0.0:53:53/udp'), [
      { protocol: 'udp', hostIp: '', hostPort: 53, containerPort: 53 },
    ]);
    assert.deepEqual(parsePublish('[fd00::1]:8080:80'), [
      { protocol: 'tcp', hostIp: 'fd00::1', hostPort: 8080, containerPort: 80 },
    ]);
    assert.deepEqual(
      parsePublish('8000-8002:80-82').map((r) => [r.hostPort, r.containerPort]),
      [
        [8000, 80],
        [8001, 81],
        [8002, 82],
      ],
    );
    assert.deepEqual(parsePublish('8000-8010:80'), [
      { protocol: 'tcp', hostIp: '', hostPort: 8000, hostPortEnd: 8010, containerPort: 80 },
    ]);
    assert.deepEqual(parseExpose([80, '53/udp', '9000-9001']), [
      { protocol: 'tcp', port: 80 },
      { protocol: 'udp', port: 53 },
      { protocol: 'tcp', port: 9000 },
      { protocol: 'tcp', port: 9001 },
    ]);
    // The protocol in any case, as Docker takes it.
    assert.deepEqual(parsePublish('8080:80/TCP'), [
      { protocol: 'tcp', hostIp: '', hostPort: 8080, containerPort: 80 },
    ]);
    assert.deepEqual(parseExpose(['53/UDP']), [{ protocol: 'udp', port: 53 }]);
  });

  it('refuses bad specs with the field named', () => {
    for (const bad of [
      '',
      '0:80',
      '65536:80',
      '80:0',
      'a:b',
      '8080:80/sctp',
      '1.2.3.4.5:80:80',
      '8000-8001:80-82',
      '9-8:80',
      '1:2:3:4',
      '[::1:80:80',
      // IPv6 loopback cannot be forwarded to a sandbox (no route_localnet).
      '[::1]:8080:80',
      '[0:0:0:0:0:0:0:1]::80',
      'x::80',
    ]) {
      assert.throws(
        () => parsePublish(bad, 'publish[0]'),
        (e: unknown) => e instanceof ValidationError && e.field === 'publish[0]',
        bad,
      );
    }
    assert.throws(() => parseExpose(['80/sctp']), ValidationError);
  });
});
