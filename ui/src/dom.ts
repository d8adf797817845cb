/**
 * Small DOM helpers. Text from data always goes through `textContent` (never `innerHTML`),
 * so names, messages and errors that came from the server are shown, never interpreted.
 */
import { ApiError, Download } from './api';

type Child = Node | string | null | undefined | false;

export interface ElOptions {
  cls?: string;
  text?: string;
  title?: string;
  attrs?: Record<string, string>;
  onclick?: (ev: Event) => void;
}

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  options: ElOptions = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (options.cls) {
    node.className = options.cls;
  }
  if (options.text !== undefined) {
    node.textContent = options.text;
  }
  if (options.title) {
    node.title = options.title;
  }
  for (const [k, v] of Object.entries(options.attrs ?? {})) {
    node.setAttribute(k, v);
  }
  if (options.onclick) {
    node.addEventListener('click', options.onclick);
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) {
      continue;
    }
    node.append(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return node;
}

/**
 * A button showing `label`. One of a row's (every row has its Rerun) is given what it acts
 * on, `of` (e.g. `job 42`): its accessible name is then `Rerun job 42`, which a screen reader
 * tells apart from the other rows' and which still starts with what is shown.
 */
export function button(label: string, onclick: () => void | Promise<void>, cls = '', of?: string): HTMLButtonElement {
  const b = el('button', { cls: `jp-Button lps-button ${cls}`.trim(), text: label });
  if (of) {
    b.setAttribute('aria-label', `${label} ${of}`);
  }
  b.type = 'button';
  b.addEventListener('click', async () => {
    // Disabled while its work is under way, it loses the keyboard's focus to the page (and
    // a refresh may replace it): given back once the work is done.
    const mark = markFocus(b.closest<HTMLElement>('.lps-panel') ?? b.parentElement ?? b);
    b.disabled = true;
    try {
      await onclick();
    } finally {
      b.disabled = false;
      restoreFocus(mark);
    }
  });
  return b;
}

/** What the keyboard can reach in a panel. */
const CONTROLS = 'button, input, select, textarea, a[href], [tabindex]';

/** A control's accessible name: what it acts on (`Rerun job 42`), else what it shows. */
function nameOf(node: Element): string {
  return node.getAttribute('aria-label') ?? node.textContent?.trim() ?? '';
}

/** Whether the keyboard can use `c` now (shown, not disabled). */
function usable(c: HTMLElement): boolean {
  return c.isConnected && !(c as HTMLButtonElement).disabled && c.tabIndex >= 0;
}

/** The first control under `node` the keyboard can use, that `wanted` accepts. */
function controlIn(node: Element | null | undefined, wanted: (c: HTMLElement) => boolean = () => true): HTMLElement | null {
  const all = node ? [...node.querySelectorAll<HTMLElement>(CONTROLS)] : [];
  return all.find(c => usable(c) && wanted(c)) ?? null;
}

/** Where the keyboard's focus was in a panel: the control and its name, and the row it was
 * in (one of `Rows`) with that row's place among its list's. */
export interface FocusMark {
  scope: HTMLElement;
  node: HTMLElement;
  name: string;
  key?: string;
  list?: HTMLElement | null;
  place: number;
}

/** The control holding the keyboard's focus inside `scope`, if one does. */
export function markFocus(scope: HTMLElement): FocusMark | null {
  const node = document.activeElement;
  if (!(node instanceof HTMLElement) || node === scope || !scope.contains(node)) {
    return null;
  }
  const row = node.closest<HTMLElement>('[data-key]');
  const list = row?.parentElement;
  const place = row && list ? [...list.children].indexOf(row) : -1;
  return { scope, node, name: nameOf(node), key: row?.dataset.key, list, place };
}

/**
 * Gives the focus back where `mark` says, if it was lost meanwhile (to the page's body): a
 * disabled button and a node taken out of the page both drop it there, and a keyboard user
 * would start again from the top. To the same control if it is still shown, else the one of
 * the same name that replaced it (`Test connection crm` in its redrawn row), else a control
 * of its row (a job's Cancel is gone once it ended), else the same control of the row now in
 * the place of its row (the next connection's Delete). Focus moved elsewhere is left there.
 */
export function restoreFocus(mark: FocusMark | null): void {
  const now = document.activeElement;
  if (!mark || (now && now !== document.body) || !mark.scope.isConnected) {
    return;
  }
  const { scope, node, name, key, list, place } = mark;
  const same = (c: HTMLElement): boolean => nameOf(c) === name;
  const row = key === undefined ? null : [...scope.querySelectorAll<HTMLElement>('[data-key]')].find(r => r.dataset.key === key);
  const label = node.textContent?.trim();
  const inPlace = !row && list?.isConnected && place >= 0 ? list.children[Math.min(place, list.children.length - 1)] : null;
  const target =
    (usable(node) ? node : null) ||
    controlIn(row, same) ||
    controlIn(scope, same) ||
    controlIn(row) ||
    controlIn(inPlace, c => c.textContent?.trim() === label) ||
    controlIn(inPlace);
  target?.focus();
}

/**
 * A panel's rows (jobs, connections), one per item's key, each redrawn only when its item
 * changed: drawn again on every refresh, a row would take the keyboard's focus from the
 * button a user tabbed to and re-enable one whose click is still under way. The focus a
 * redrawn row held goes to its replacement (`restoreFocus`).
 */
export class Rows<T> {
  constructor(
    readonly node: HTMLElement,
    private key: (item: T) => string,
    private draw: (item: T) => HTMLElement
  ) {}

  /** Shows `items`, or `empty` when there are none. */
  show(items: T[], empty?: () => HTMLElement): void {
    const mark = markFocus(this.node);
    const drawn = new Map<string, { data: string; row: HTMLElement }>();
    const rows = items.map(item => {
      const key = this.key(item);
      const data = JSON.stringify(item);
      const old = this.drawn.get(key);
      const row = old?.data === data ? old.row : this.draw(item);
      row.dataset.key = key;
      drawn.set(key, { data, row });
      return row;
    });
    if (!rows.length && empty) {
      rows.push(empty());
    }
    // Those no longer shown go; the others stay where they are (one moved would lose the
    // focus), the new ones put in their place.
    const shown = new Set<Element>(rows);
    for (const child of [...this.node.children]) {
      if (!shown.has(child)) {
        child.remove();
      }
    }
    rows.forEach((row, i) => {
      if (this.node.children[i] !== row) {
        this.node.insertBefore(row, this.node.children[i] ?? null);
      }
    });
    this.drawn = drawn;
    restoreFocus(mark);
  }

  /** No rows: the next `show` draws every one. */
  clear(): void {
    this.drawn.clear();
    this.node.replaceChildren();
  }

  private drawn = new Map<string, { data: string; row: HTMLElement }>();
}

/**
 * Keeps the keyboard's focus in the field of a dialog's `body` a user was typing in.
 * JupyterLab's dialog sends the focus to its first field whenever anything outside it takes
 * the focus (a lab panel activated late, as one is after an earlier dialog closed), and what
 * the user typed next went on in that field: a project named "shopcart_abandonment". Moves
 * within the dialog (a click, Tab, its buttons) are the user's own and are kept.
 */
export function holdFieldFocus(body: HTMLElement): void {
  let last: HTMLElement | null = null;
  body.addEventListener('focusin', event => {
    const target = event.target as HTMLElement;
    const from = event.relatedTarget as Node | null;
    const dialog = body.closest('.jp-Dialog') ?? body;
    if (last && last !== target && last.isConnected && !(from && dialog.contains(from))) {
      last.focus(); // pulled here from outside the dialog: back to where the user was
      return;
    }
    last = target;
  });
}

/** Moves the keyboard's focus to the first control under `node` it can use (a form just
 * shown), or to the control of accessible name `name` there. */
export function focusIn(node: HTMLElement, name?: string): void {
  controlIn(node, c => name === undefined || nameOf(c) === name)?.focus();
}

/**
 * Run now, for a recipe with trigger `kind`. A webhook or callable recipe works on what is
 * posted to it, and the lab has no event to give it (the API refuses a real run without
 * one): its Run now is disabled, its tooltip pointing at Test, which runs on a sample event.
 */
export function runNow(kind: string | undefined, onclick: () => Promise<void>, of?: string): HTMLButtonElement {
  const b = button('Run now', onclick, 'lps-run', of);
  if (kind === 'webhook' || kind === 'callable') {
    b.disabled = true;
    b.title = `a ${kind} recipe runs on what is posted to it: try it with Test in its Settings (a sample event, nothing sent)`;
  }
  return b;
}

/**
 * A value the browser refuses before sending it (text that is no whole number, no JSON): it
 * names its field and the fix, as the API's errors do, so it is shown and marked alike.
 */
export class FieldError extends Error {
  constructor(
    message: string,
    readonly field: string,
    readonly fix: string
  ) {
    super(message);
  }
}

/** An error, shown with the field it is about and the fix the server suggests. */
export function errorBox(err: unknown): HTMLElement {
  const box = el('div', { cls: 'lps-error', attrs: { role: 'alert' } });
  if (err instanceof ApiError) {
    box.append(el('div', { cls: 'lps-error-message', text: `${err.code}: ${err.message}` }));
    if (err.field) {
      box.append(el('div', { cls: 'lps-error-field', text: `field: ${err.field}` }));
    }
    if (err.fix) {
      box.append(el('div', { cls: 'lps-error-fix', text: `fix: ${err.fix}` }));
    }
  } else if (err instanceof FieldError) {
    box.append(
      el('div', { cls: 'lps-error-message', text: err.message }),
      el('div', { cls: 'lps-error-field', text: `field: ${err.field}` }),
      el('div', { cls: 'lps-error-fix', text: `fix: ${err.fix}` })
    );
  } else {
    box.append(el('div', { cls: 'lps-error-message', text: String(err instanceof Error ? err.message : err) }));
  }
  return box;
}

/** A result shown as a screen reader says it: `role=status` (said once it is idle) for what
 * went well, `role=alert` (said at once) for what failed, as `errorBox`'s errors. */
export function announced(ok: boolean): Record<string, string> {
  return { role: ok ? 'status' : 'alert' };
}

/** What an action did, said to a screen reader too (`announced`). */
export function okBox(text: string): HTMLElement {
  return el('div', { cls: 'lps-ok', text, attrs: announced(true) });
}

/** How many nodes `markField` and `markWarned` gave an id to, for `aria-describedby`. */
let described = 0;

/** How a field is marked: by an error (the value was refused: its control `aria-invalid`,
 * which a screen reader says as "invalid") or by a warning (saved, and will fail as it is:
 * marked apart, never said invalid). Each: its label's class, and the attribute of its
 * control naming the node that describes it (its `aria-describedby` may name others too). */
const MARKS = {
  invalid: { cls: 'lps-field-invalid', by: 'data-lps-invalid-by' },
  warned: { cls: 'lps-field-warned', by: 'data-lps-warned-by' }
} as const;

/** Adds `id` to, or takes it from, the nodes describing `control` (`aria-describedby`). */
function describedBy(control: Element, id: string, on: boolean): void {
  const ids = (control.getAttribute('aria-describedby') ?? '').split(' ').filter(i => i && i !== id);
  if (on && id) {
    ids.push(id);
  }
  if (ids.length) {
    control.setAttribute('aria-describedby', ids.join(' '));
  } else {
    control.removeAttribute('aria-describedby');
  }
}

/** Marks `how` the input each field is about, described by the node that says why, and
 * unmarks the others marked so; the other kind of mark is left as it is. */
function mark(form: HTMLElement, how: keyof typeof MARKS, fields: [string | null | undefined, HTMLElement | null | undefined][]): void {
  const { cls, by } = MARKS[how];
  for (const node of form.querySelectorAll(`.${cls}`)) {
    node.classList.remove(cls);
  }
  for (const control of form.querySelectorAll(`[${by}]`)) {
    describedBy(control, control.getAttribute(by) ?? '', false);
    control.removeAttribute(by);
    if (how === 'invalid') {
      control.removeAttribute('aria-invalid');
    }
  }
  for (const [field, said] of fields) {
    const labels = fieldLabels(form, field);
    if (said && labels.length && !said.id) {
      said.id = `lps-said-${++described}`;
    }
    for (const label of labels) {
      label.classList.add(cls);
      for (const control of label.querySelectorAll('input, select, textarea')) {
        if (how === 'invalid') {
          control.setAttribute('aria-invalid', 'true');
        }
        control.setAttribute(by, said?.id ?? '');
        describedBy(control, said?.id ?? '', true);
      }
    }
  }
}

/**
 * Marks the input an error is about (the label with that `data-field`) and unmarks the
 * others. The API names a parameter `days` or `parameters.days`, a connector's field
 * `fields.token` and a recipe's slot `connections.crm` (its select is `connection-crm`).
 * The class shows it; a screen reader is told by its control's `aria-invalid`, and reads
 * `said` (the node showing the error) as the control's description.
 */
export function markField(form: HTMLElement, field: string | null | undefined, said?: HTMLElement | null): void {
  mark(form, 'invalid', [[field, said]]);
}

/**
 * Marks the input each warning is about (what was saved and will fail as it is: a call
 * timeout a Conversation Builder bot does not wait out), described by the node showing the
 * warning, and unmarks those warned of before. Not `aria-invalid`, nor taking the focus
 * (`focusMarked`), as an error's field is: the value was saved, not refused.
 */
export function markWarned(form: HTMLElement, warned: [string | null | undefined, HTMLElement][]): void {
  mark(form, 'warned', warned);
}

/** The labels (`data-field`) under `form` of the API's `field`, as `markField` reads it. */
function fieldLabels(form: HTMLElement, field: string | null | undefined): HTMLElement[] {
  if (!field) {
    return [];
  }
  const bare = field.replace(/^(parameters|fields)\./, '');
  const names = [field, bare, bare.split('.')[0], field.replace(/^connections\./, 'connection-')];
  return [...form.querySelectorAll<HTMLElement>('[data-field]')].filter(label => names.includes(label.dataset.field ?? ''));
}

/** What `form` shows as the label of the API's `field` (`Into folder` for `into`), without
 * its `*`; null where it shows none: a refusal names the field as the user sees it. */
export function labelOf(form: HTMLElement, field: string | null | undefined): string | null {
  const shown = fieldLabels(form, field)[0]?.querySelector('.lps-field-label')?.textContent;
  return shown ? shown.replace(/\s*\*$/, '') : null;
}

/** Moves the keyboard's focus to the first field `markField` marked under `form`, if any:
 * a refusal is corrected there. */
export function focusMarked(form: HTMLElement): void {
  form.querySelector<HTMLElement>('[aria-invalid=true]')?.focus();
}

/** Replaces a node's children. */
export function fill(node: HTMLElement, ...children: Child[]): void {
  node.replaceChildren();
  for (const child of children) {
    if (child) {
      node.append(typeof child === 'string' ? document.createTextNode(child) : child);
    }
  }
}

export function formatTime(iso?: string | null): string {
  if (!iso) {
    return '';
  }
  const d = new Date(iso);
  return isNaN(d.getTime()) ? iso : d.toLocaleString();
}

/** The browser's time zone, which every time the lab shows or reads is in. */
export function localZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'local';
}

/** A moment for an input the user edits: local time as `2026-11-01 09:00:00` (the form
 * `readMoment` reads back); what is no date passes unchanged. */
export function momentInput(iso?: string | null): string {
  if (!iso) {
    return '';
  }
  const d = new Date(iso);
  if (isNaN(d.getTime())) {
    return iso;
  }
  const two = (n: number): string => String(n).padStart(2, '0');
  return (
    `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ` +
    `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`
  );
}

/**
 * A moment typed by the user, for the API: a date or time without a zone is local time, as
 * the lab shows times (and as the CLI reads them; the API itself reads it as UTC), so it is
 * sent in UTC. Durations (`2h`), zoned times and what is no date pass unchanged, for the
 * API to read or refuse by name.
 */
export function readMoment(text: string): string {
  const m = text
    .trim()
    .match(/^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3})\d*)?)?)?$/);
  if (!m) {
    return text.trim();
  }
  const [y, mo, d, h, mi, sec] = m.slice(1, 7).map(v => Number(v ?? 0));
  const ms = Number((m[7] ?? '0').padEnd(3, '0'));
  const local = new Date(y, mo - 1, d, h, mi, sec, ms);
  // A day the calendar has not (2026-02-30) rolls over: left for the API to refuse.
  return local.getDate() !== d || local.getMonth() !== mo - 1 ? text.trim() : local.toISOString();
}

export function formatDuration(seconds?: number | null): string {
  if (seconds === null || seconds === undefined) {
    return '';
  }
  if (seconds < 60) {
    return `${seconds.toFixed(1)} s`;
  }
  const m = Math.floor(seconds / 60);
  return `${m} min ${Math.round(seconds - m * 60)} s`;
}

/** `table` in a box of its own that scrolls sideways when the panel is narrower than it: the
 * panel itself never does, so its filters and headings stay in view. */
export function scroller(table: HTMLElement): HTMLElement {
  return el('div', { cls: 'lps-table-scroll' }, table);
}

export function statusBadge(status: string | undefined | null): HTMLElement {
  const s = status ?? 'none';
  return el('span', { cls: `lps-status lps-status-${s.replace(/[^a-z]/g, '')}`, text: status ?? '—' });
}

/** Saves a file the server answered through the browser's downloads, as a link would. */
export function saveDownload(d: Download): void {
  const url = URL.createObjectURL(d.blob);
  const link = el('a', { attrs: { href: url, download: d.filename } });
  link.style.display = 'none';
  document.body.append(link);
  link.click();
  link.remove();
  // Revoked once the click's download has taken the blob (a later task), never before.
  window.setTimeout(() => URL.revokeObjectURL(url), 0);
}
