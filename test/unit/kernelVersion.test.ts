import assert from 'node:assert/strict';
import { test } from 'node:test';
import { kernelNumber, parseKernelVersion, versionAtLeast } from '../../server/src/core/kernelVersion';
import { profileForRelease } from '../../server/src/core/capture/toModel';
import { targetOf } from '../../server/src/core/analysis';

test('kernel versions: releases, profiles and settings read one way', () => {
  assert.deepEqual(parseKernelVersion('6.12.118+deb12-amd64'), { major: 6, minor: 12 });
  assert.equal(parseKernelVersion('linux'), undefined);
  assert.equal(kernelNumber('6.16'), 616);
  assert.equal(kernelNumber('4.12'), 412);
  assert.ok(Number.isNaN(kernelNumber('next')));
  assert.ok(versionAtLeast({ major: 6, minor: 19 }, 6, 19) && versionAtLeast({ major: 7, minor: 0 }, 6, 19) && !versionAtLeast({ major: 6, minor: 18 }, 6, 19));
  // the users: the simulator profile of a release, the build tool of a target
  assert.equal(profileForRelease('6.12.118+deb12-amd64'), '6.4');
  assert.equal(profileForRelease('6.1.0-57-amd64'), '6.1');
  assert.equal(profileForRelease('3.10.0'), undefined);
  assert.equal(targetOf({ kernelVersion: '6.19-rc1' }).tool, 'klp-build');
  assert.equal(targetOf({ kernelVersion: '6.18.3' }).tool, 'kpatch-build');
});
