/**
 * The kernel-test fixtures: test/kernel/fixtures/<id>/ holds
 *   fix.patch     the patch, written for the test against the 6.1 and 6.12 trees;
 *   check.sh      exits 0 when the patch's effect is visible in the guest (must fail before the load);
 *   fixture.json  { class, description, modules?, setup?, helpers? }.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Fixture {
  id: string;
  dir: string;
  patch: string;
  check: string;
  class: string;
  description: string;
  /** Modules of the image the guest loads before the fixture runs (the patched object, say). */
  modules: string[];
  /** A shell line run in the guest before the first check. */
  setup?: string;
  /** C programs in the fixture folder, compiled static into the guest's /bin under their base name. */
  helpers: string[];
}

export function fixturesDir(root: string): string {
  return join(root, 'test', 'kernel', 'fixtures');
}

export function loadFixtures(dir: string): Fixture[] {
  return readdirSync(dir)
    .filter((id) => existsSync(join(dir, id, 'fixture.json')))
    .sort()
    .map((id) => loadFixture(dir, id));
}

function loadFixture(root: string, id: string): Fixture {
  const dir = join(root, id);
  const meta = JSON.parse(readFileSync(join(dir, 'fixture.json'), 'utf8')) as Partial<Fixture>;
  for (const f of ['fix.patch', 'check.sh']) if (!existsSync(join(dir, f))) throw new Error(`fixture ${id}: ${f} is missing`);
  if (typeof meta.class !== 'string') throw new Error(`fixture ${id}: fixture.json has no "class"`);
  if (!/^[a-z0-9-]+$/.test(id)) throw new Error(`fixture ${id}: use [a-z0-9-] in fixture names (the guest script uses them)`);
  return {
    id,
    dir,
    patch: join(dir, 'fix.patch'),
    check: join(dir, 'check.sh'),
    class: meta.class,
    description: meta.description ?? '',
    modules: meta.modules ?? [],
    setup: meta.setup,
    helpers: meta.helpers ?? [],
  };
}
