/**
 * Facts about one function on one side of the patch, read from its syntax tree
 * into plain data while the tree is alive: the calls it makes, its effects on
 * shared state (counters, locks, allocations, lists, bits, stores), the fields
 * it reads and writes, function pointers it takes, asm, its tail call. Rules
 * read facts, never trees.
 *
 * A resource is a normalised access path: the object's type replaces local
 * names (`ctx->reqs_active` with `struct kioctx *ctx` → `struct kioctx::reqs_active`),
 * so the same field is one resource in every function that touches it.
 */
import type { Node } from '../syntax/parser';
import type { Side } from '../entities/diff';
import type { Entity } from '../entities/extract';
import { declaratorName } from '../entities/extract';
import { normalizeC } from '../syntax/normalize';
import { OPS, SLEEPERS, type EffectOp } from './ops';

export interface Site {
  /** Image line (0-based) on this side, -1 for a synthetic line. */
  imageLine: number;
  /** Patch-document line showing it, -1 when the line is not in the patch. */
  docLine: number;
  /** Column in the image line (UTF-16). */
  column: number;
  /** The line is added (post side) or removed (pre side) by the patch. */
  changed: boolean;
}

export interface Call {
  name: string;
  args: string[];
  site: Site;
}

export interface Effect {
  resource: string;
  op: EffectOp;
  /** Normalised amount ("1", "2", a bit name, the stored value). */
  amount: string;
  /** The API or operator that does it ("atomic_inc", "++", "+="). */
  via: string;
  site: Site;
  /** Locks held (resources) when the effect happens, in this function. */
  locksHeld: string[];
}

export interface Access {
  resource: string;
  write: boolean;
  site: Site;
}

export interface FunctionFacts {
  /** Entity key (same on both sides). */
  key: string;
  name: string;
  calls: Call[];
  effects: Effect[];
  accesses: Access[];
  /** Functions of this file used as values (&fn, or fn not called): callbacks, ops entries. */
  fnRefs: { name: string; site: Site }[];
  asm: Site[];
  /** `return f(...)` as the last statement. */
  tailCall?: { callee: string; site: Site };
  /** The function may sleep (calls schedule, msleep, mutex_lock, wait_event...). */
  sleeps: boolean;
  /** A `while (!kthread_should_stop())`-style loop: a kthread that never leaves. */
  kthreadLoop: boolean;
  /** Local variables and parameters with their (normalised) types. */
  locals: Record<string, string>;
}

/** Position helper bound to one side. */
function siteOf(side: Side, n: Node): Site {
  const img = side.src.toImage[n.startPosition.row] ?? -1;
  return {
    imageLine: img,
    docLine: img >= 0 ? side.image.docLine[img] : -1,
    column: n.startPosition.column,
    changed: img >= 0 && side.image.changed[img] === 1,
  };
}

function text(side: Side, n: Node | null | undefined): string {
  return n ? side.src.text.slice(n.startIndex, n.endIndex) : '';
}

/** "struct kioctx *" → "struct kioctx"; "const struct foo" → "struct foo"; "u64" → "u64". */
function baseType(t: string): string {
  return normalizeC(t.replace(/\b(const|volatile|static|register|extern|__rcu|__user|__iomem|__percpu)\b/g, ' '))
    .replace(/\s*\*\s*/g, '')
    .trim();
}

function collectLocals(side: Side, fn: Node, out: Record<string, string>): void {
  const add = (typeNode: Node | null, decl: Node | null) => {
    const name = declaratorName(decl);
    if (!name || !typeNode) return;
    let t = baseType(text(side, typeNode));
    if (t === '') return;
    // an array or pointer declarator keeps the element type: that is what -> and [] reach
    if (!/^(struct|union|enum)\s/.test(t) && typeNode.type === 'type_identifier') t = text(side, typeNode);
    out[name.text] = t;
  };
  const params = fn.childForFieldName('declarator')?.descendantsOfType('parameter_declaration') ?? [];
  for (const p of params) if (p) add(p.childForFieldName('type'), p.childForFieldName('declarator'));
  const body = fn.type === 'compound_statement' ? fn : fn.childForFieldName('body');
  for (const d of body?.descendantsOfType('declaration') ?? []) {
    if (!d) continue;
    for (const decl of d.childrenForFieldName('declarator')) add(d.childForFieldName('type'), decl);
  }
}

/** Member types of the structs a side defines: "struct lens_reader" → field → "struct lens_dev". */
export type StructTypes = Map<string, Map<string, string>>;

export function structTypesOf(side: Side, into: StructTypes = new Map()): StructTypes {
  for (const e of side.ents.entities) {
    if (e.kind !== 'struct' && e.kind !== 'union') continue;
    const fields = into.get(`${e.kind} ${e.name}`) ?? new Map<string, string>();
    const walk = (list: Node | null) => {
      for (const c of list?.namedChildren ?? []) {
        if (!c) continue;
        if (c.type === 'field_declaration') {
          const type = c.childForFieldName('type');
          const decls = c.childrenForFieldName('declarator').filter((d): d is Node => d !== null);
          if (decls.length === 0 && type?.childForFieldName('body')) walk(type.childForFieldName('body'));
          for (const d of decls) {
            const name = declaratorName(d);
            if (name && type) fields.set(name.text, baseType(text(side, type)));
          }
        } else if (c.type.startsWith('preproc_')) walk(c);
      }
    };
    walk(e.node.childForFieldName('body'));
    into.set(`${e.kind} ${e.name}`, fields);
  }
  return into;
}

/** Objects the kernel names through macros. */
const KNOWN_OBJECTS: Record<string, string> = { current: 'struct task_struct' };

/**
 * A normalised resource for an lvalue expression, or undefined when it is not
 * shared state (a plain local variable). Member paths are resolved through the
 * known struct types: r->dev->nr_errors with r a struct lens_reader * and
 * lens_reader.dev a struct lens_dev * is "struct lens_dev::nr_errors".
 */
export function resourceOf(side: Side, expr: Node | null, locals: Record<string, string>, types?: StructTypes): string | undefined {
  let n = expr;
  // &x, *x, (x), casts: look through
  for (let guard = 0; n && guard < 8; guard++) {
    if (n.type === 'pointer_expression' || n.type === 'parenthesized_expression') n = n.namedChildren[n.namedChildren.length - 1] ?? null;
    else if (n.type === 'cast_expression') n = n.childForFieldName('value');
    else break;
  }
  if (!n) return undefined;
  if (n.type === 'identifier') {
    const name = n.text;
    // a local or parameter is not shared state; a global is
    return name in locals ? undefined : name;
  }
  if (n.type === 'field_expression' || n.type === 'subscript_expression') {
    const fields: string[] = [];
    let base: Node | null = n;
    while (base && (base.type === 'field_expression' || base.type === 'subscript_expression' || base.type === 'parenthesized_expression')) {
      if (base.type === 'field_expression') {
        fields.unshift(base.childForFieldName('field')?.text ?? '?');
        base = base.childForFieldName('argument');
      } else if (base.type === 'subscript_expression') {
        fields.unshift('[]');
        base = base.childForFieldName('argument');
      } else base = base.namedChildren[0] ?? null;
    }
    if (!base) return undefined;
    let owner: string;
    if (base.type === 'identifier') owner = locals[base.text] ?? KNOWN_OBJECTS[base.text] ?? base.text;
    else if (base.type === 'call_expression') owner = `${text(side, base.childForFieldName('function'))}()`;
    else owner = normalizeC(text(side, base));
    // walk the path through known member types: the resource is the innermost known owner and the rest
    let k = 0;
    while (k < fields.length - 1 && types) {
      if (fields[k] === '[]') {
        k++;
        continue;
      }
      const t = types.get(owner)?.get(fields[k]);
      if (!t || !/^(struct|union) /.test(t)) break;
      owner = t;
      k++;
    }
    const path = fields
      .slice(k)
      .join('.')
      .replace(/\.\[\]/g, '[]')
      .replace(/^\[\]\.?/, '');
    return `${owner}::${path || '[]'}`;
  }
  return undefined;
}

/** Execution contexts entered by calls without an argument: rcu_read_lock(), local_irq_disable()... */
function pseudoLock(name: string): string {
  if (/^rcu_read_(un)?lock_bh$/.test(name)) return 'RCU (bh) read side';
  if (/^rcu_read_(un)?lock_sched$/.test(name)) return 'RCU (sched) read side';
  if (/^s?rcu_read_(un)?lock$/.test(name)) return 'RCU read side';
  if (/^local_irq_/.test(name)) return 'interrupts off';
  if (/^local_bh_/.test(name)) return 'bottom halves off';
  if (/^preempt_/.test(name)) return 'preemption off';
  return name.replace(/_(un)?lock.*$/, '');
}

const GENERIC_GET = /^([a-z][a-z0-9_]*?)_(get|hold|grab|ref|acquire)$|^(?:get|grab|hold)_([a-z][a-z0-9_]*)$/;
const GENERIC_PUT = /^([a-z][a-z0-9_]*?)_(put|release|unref|drop)$|^(?:put|drop|release)_([a-z][a-z0-9_]*)$/;

/** The node kinds functionFacts reads. */
const VISITED = ['compound_statement', 'call_expression', 'update_expression', 'assignment_expression', 'field_expression', 'gnu_asm_expression', 'while_statement', 'for_statement'];

/** Facts of a function entity on one side. */
export function functionFacts(side: Side, e: Entity, fileFunctions: ReadonlySet<string>, types?: StructTypes): FunctionFacts {
  const facts: FunctionFacts = { key: e.key, name: e.name, calls: [], effects: [], accesses: [], fnRefs: [], asm: [], sleeps: false, kthreadLoop: false, locals: {} };
  const parts = [e.node, ...(e.extra ?? []).map((x) => x.node)];
  for (const part of parts) collectLocals(side, part, facts.locals);
  const held: string[] = [];

  const effect = (resource: string | undefined, op: EffectOp, amount: string, via: string, at: Node) => {
    if (!resource) return;
    facts.effects.push({ resource, op, amount, via, site: siteOf(side, at), locksHeld: [...held] });
  };

  // The nodes of the kinds below, in document order (one call into the parser, no walk in JS).
  // Returns the locks to restore after n when n is an error path.
  const visit = (n: Node): string[] | undefined => {
    switch (n.type) {
      case 'compound_statement': {
        // An error path (an if-branch ending in return/goto) that unlocks does not end the lock for the code after it.
        if (n.parent?.type !== 'if_statement') return;
        const lastStmt = n.namedChildren.filter((c) => c !== null && c.type !== 'comment').pop();
        if (lastStmt && /^(return|goto|break|continue)_statement$/.test(lastStmt.type)) return [...held];
        return;
      }
      case 'call_expression': {
        const fnNode = n.childForFieldName('function');
        const argsNode = n.childForFieldName('arguments');
        const args = argsNode ? argsNode.namedChildren.filter((a): a is Node => a !== null && a.type !== 'comment') : [];
        let name = fnNode?.type === 'identifier' ? fnNode.text : fnNode?.type === 'field_expression' ? `->${fnNode.childForFieldName('field')?.text ?? ''}` : '';
        // static_call(name)(args): the callee is the static call; KVM wraps it as kvm_x86_call(op)(args)
        if (fnNode?.type === 'call_expression') {
          const inner = fnNode.childForFieldName('function')?.text;
          const arg = fnNode.childForFieldName('arguments')?.namedChildren[0]?.text ?? '';
          if (inner === 'static_call' || inner === 'static_call_cond' || inner === 'static_call_mod') name = `${inner}(${arg})`;
          else if (inner === 'kvm_x86_call' || inner === 'kvm_pmu_call') name = `static_call(${inner.replace('_call', '')}_${arg})`;
        }
        if (name) {
          facts.calls.push({ name, args: args.map((a) => normalizeC(text(side, a))), site: siteOf(side, n) });
          if (SLEEPERS.has(name) || name.startsWith('wait_event')) facts.sleeps = true;
          const spec = OPS.get(name);
          if (spec) {
            if (spec.op === 'lock' || spec.op === 'unlock') {
              const res = spec.res >= 0 ? resourceOf(side, args[spec.res] ?? null, facts.locals, types) : pseudoLock(name);
              if (res) {
                if (spec.op === 'lock') held.push(res);
                else {
                  const k = held.lastIndexOf(res);
                  if (k >= 0) held.splice(k, 1);
                }
                effect(res, spec.op, '1', name, n);
              }
            } else if (spec.op === 'alloc') {
              // the resource is what receives the allocation: x->f = kzalloc(...) or p = kzalloc(sizeof(*p))
              const parent = n.parent;
              let target: string | undefined;
              if (parent?.type === 'assignment_expression') target = resourceOf(side, parent.childForFieldName('left'), facts.locals, types) ?? typeOfTarget(parent.childForFieldName('left'), facts.locals);
              else if (parent?.type === 'init_declarator') target = typeOfTarget(parent.childForFieldName('declarator'), facts.locals);
              if (target) effect(target, 'alloc', '1', name, n);
            } else if (spec.op === 'free') {
              const a = args[spec.res] ?? null;
              effect(resourceOf(side, a, facts.locals, types) ?? typeOfTarget(a, facts.locals), 'free', '1', name, n);
            } else {
              const amount = spec.fixed ?? (spec.amount !== undefined ? normalizeC(text(side, args[spec.amount])) : '1');
              effect(resourceOf(side, args[spec.res] ?? null, facts.locals, types), spec.op, amount, name, n);
            }
          } else {
            // foo_get()/foo_put(), get_foo()/put_foo(): one reference-count protocol per API stem
            const g = GENERIC_GET.exec(name) ?? GENERIC_PUT.exec(name);
            if (g && args[0]) effect(`api:${g[1] ?? g[3]}`, GENERIC_GET.test(name) ? 'inc' : 'dec', '1', name, n);
          }
        }
        break;
      }
      case 'update_expression': {
        const arg = n.childForFieldName('argument');
        const op = n.childForFieldName('operator')?.text ?? (n.text.includes('++') ? '++' : '--');
        effect(resourceOf(side, arg, facts.locals, types), op === '++' ? 'inc' : 'dec', '1', op, n);
        break;
      }
      case 'assignment_expression': {
        const left = n.childForFieldName('left');
        const op = n.childForFieldName('operator')?.text ?? '=';
        const right = n.childForFieldName('right');
        const res = resourceOf(side, left, facts.locals, types);
        const rhs = normalizeC(text(side, right));
        if (res) {
          if (op === '+=') effect(res, 'inc', rhs, op, n);
          else if (op === '-=') effect(res, 'dec', rhs, op, n);
          else if (op === '|=') effect(res, 'bit-set', rhs, op, n);
          else if (op === '&=' && rhs.startsWith('~')) effect(res, 'bit-clear', rhs.slice(1).trim(), op, n);
          else if (op === '=' && !(right?.type === 'call_expression' && OPS.get(right.childForFieldName('function')?.text ?? '')?.op === 'alloc')) effect(res, 'assign', rhs, op, n);
        }
        break;
      }
      case 'field_expression': {
        const res = resourceOf(side, n, facts.locals, types);
        if (res) {
          const p = n.parent;
          // an address taken (&x->f passed to INIT_WORK, spin_lock_init, memset...) may be written through
          const write = (p?.type === 'assignment_expression' && p.childForFieldName('left')?.id === n.id) || p?.type === 'update_expression' || (p?.type === 'pointer_expression' && p.text.startsWith('&'));
          facts.accesses.push({ resource: res, write, site: siteOf(side, n) });
        }
        break;
      }
      case 'gnu_asm_expression':
        facts.asm.push(siteOf(side, n));
        break;
      case 'while_statement':
      case 'for_statement': {
        const cond = text(side, n.childForFieldName('condition'));
        if (/kthread_should_stop\s*\(/.test(cond) || (n.type === 'for_statement' && /^\s*for\s*\(\s*;\s*;\s*\)/.test(text(side, n)))) {
          if (/kthread_should_stop|kthread_should_park|freezing|try_to_freeze|schedule/.test(text(side, n))) facts.kthreadLoop = true;
        }
        break;
      }
      default:
        break;
    }
  };
  for (const part of parts) {
    const body = part.type === 'compound_statement' ? part : part.childForFieldName('body');
    if (!body) continue;
    const restores: { end: number; held: string[] }[] = [];
    for (const n of body.descendantsOfType(VISITED)) {
      if (!n) continue;
      while (restores.length && restores[restores.length - 1].end <= n.startIndex) {
        held.length = 0;
        held.push(...restores.pop()!.held);
      }
      const saved = visit(n);
      if (saved) restores.push({ end: n.endIndex, held: saved });
    }
    if (restores.length) {
      held.length = 0;
      held.push(...restores[0].held);
    }
    // a function of this file used as a value (&fn, fn in an initializer or argument): found in the
    // text, confirmed in the tree (not a comment, a string or the callee of a call)
    if (fileFunctions.size) {
      const t = side.src.text;
      const word = /(?<![\w$])[A-Za-z_]\w*/g;
      word.lastIndex = body.startIndex;
      for (let m = word.exec(t); m && m.index < body.endIndex; m = word.exec(t)) {
        if (!fileFunctions.has(m[0])) continue;
        const n = body.descendantForIndex(m.index, m.index + m[0].length);
        if (n?.type !== 'identifier') continue;
        const p = n.parent;
        const called = p?.type === 'call_expression' && p.childForFieldName('function')?.id === n.id;
        if (!called) facts.fnRefs.push({ name: m[0], site: siteOf(side, n) });
      }
    }
  }
  // tail call: the last statement of the (first) body
  const body = e.node.type === 'compound_statement' ? e.node : e.node.childForFieldName('body');
  const last = body?.namedChildren.filter((c) => c !== null && c.type !== 'comment').pop();
  if (last?.type === 'return_statement') {
    const v = last.namedChildren[0];
    if (v?.type === 'call_expression') {
      const callee = v.childForFieldName('function');
      if (callee?.type === 'identifier') facts.tailCall = { callee: callee.text, site: siteOf(side, v) };
    }
  }
  return facts;
}

/** The type an expression names when it is a pointer variable (p in kfree(p), or the declared p of p = kzalloc). */
function typeOfTarget(n: Node | null, locals: Record<string, string>): string | undefined {
  if (!n) return undefined;
  const name = declaratorName(n) ?? (n.type === 'identifier' ? n : null);
  if (!name) return undefined;
  const t = locals[name.text];
  return t && /^(struct|union)\s/.test(t) ? t : undefined;
}
