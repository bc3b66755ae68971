import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelay } from '../../src/discovery/backoff.ts';
import { containerIdFromCgroup, containerIdFromMountinfo, hostnameLooksLikeContainerId } from '../../src/discovery/self-container.ts';
import { isStopSignal, signalNumber, stopSignals } from '../../src/discovery/stop-signal.ts';

const ID = '9f1c2ab0e1d34c5f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f';

test('backoff: 250 ms doubling to a 5 s cap', () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 50].map((a) => backoffDelay(a)), [250, 500, 1000, 2000, 4000, 5000, 5000, 5000]);
});

test('signals: numbers and names, stop set includes the StopSignal', () => {
  assert.equal(signalNumber('15'), 15);
  assert.equal(signalNumber('SIGQUIT'), 3);
  assert.equal(signalNumber('quit'), 3);
  assert.equal(signalNumber('SIGRTMIN+3'), undefined);
  const plain = stopSignals(undefined);
  for (const s of ['15', '2', '3', '9', 'SIGTERM']) assert.ok(isStopSignal(s, plain), s);
  for (const s of ['1', '10', '12', 'SIGHUP', 'SIGWINCH']) assert.ok(!isStopSignal(s, plain), s);
  assert.ok(isStopSignal('10', stopSignals('SIGUSR1')), 'the container StopSignal is a stop');
  assert.ok(isStopSignal(undefined, plain), 'an unreadable signal counts as a stop');
});

test('self-detection: mountinfo /etc/hostname from the containers dir; shm mounts on the host do not count', () => {
  const inContainer = [
    '612 590 0:55 / / rw,relatime master:300 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/X',
    `640 612 254:1 /var/lib/docker/containers/${ID}/resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/vda1 rw`,
    `641 612 254:1 /var/lib/docker/containers/${ID}/hostname /etc/hostname rw,relatime - ext4 /dev/vda1 rw`,
  ].join('\n');
  assert.equal(containerIdFromMountinfo(inContainer), ID);
  const onHost = `95 30 0:60 / /var/lib/docker/containers/${ID}/mounts/shm rw,nosuid - tmpfs shm rw,size=65536k\n`;
  assert.equal(containerIdFromMountinfo(onHost), undefined);
});

test('self-detection: cgroup v1 and systemd paths; v2 namespaced root is nothing', () => {
  assert.equal(containerIdFromCgroup(`12:memory:/docker/${ID}\n0::/\n`), ID);
  assert.equal(containerIdFromCgroup(`0::/system.slice/docker-${ID}.scope\n`), ID);
  assert.equal(containerIdFromCgroup('0::/\n'), undefined);
  assert.equal(containerIdFromCgroup('4:memory:/process_api/620830cc172b35b086814f474d97624b\n'), undefined);
  assert.ok(hostnameLooksLikeContainerId(ID.slice(0, 12)));
  assert.ok(!hostnameLooksLikeContainerId('vm'));
});
