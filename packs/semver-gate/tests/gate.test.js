'use strict';

// Tests of lib/gate.js, with semver installed from package.json (npm ci).

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');

const semver = require('semver');
const { allowed, highestAllowed, ordered } = require('../lib/gate');

describe('semver', () => {
  it('is the locked release', () => {
    assert.equal(require('semver/package.json').version, '7.7.2');
    assert.equal(semver.SEMVER_SPEC_VERSION, '2.0.0');
  });
});

describe('allowed', () => {
  it('accepts a version inside a caret range', () => {
    assert.equal(allowed('1.4.2', '^1.2.0'), true);
  });

  it('refuses the next major', () => {
    assert.equal(allowed('2.0.0', '^1.2.0'), false);
  });

  it('refuses a pre-release the range does not name', () => {
    assert.equal(allowed('1.5.0-rc.1', '^1.2.0'), false);
  });

  it('refuses what is not a version', () => {
    assert.equal(allowed('latest', '*'), false);
  });
});

describe('highestAllowed', () => {
  it('picks the highest version in range', () => {
    assert.equal(highestAllowed(['1.2.0', '1.9.3', '2.0.0', 'bogus'], '~1.9.0 || 1.2.x'), '1.9.3');
  });

  it('is null when nothing matches', () => {
    assert.equal(highestAllowed(['0.9.0'], '>=1'), null);
  });
});

describe('ordered', () => {
  it('sorts by precedence, pre-releases first', () => {
    assert.deepEqual(ordered(['1.10.0', '1.2.0', '1.10.0-beta.2', 'x']), ['1.2.0', '1.10.0-beta.2', '1.10.0']);
  });
});
