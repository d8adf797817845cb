/**
 * Forms generated from JSON Schemas: a recipe's parameters and a connector's fields.
 *
 * Each property becomes one input by its type (`enum` a drop-down, numbers a number input,
 * a `date` format a date input, a `date-time` one a date-and-time input (to the second; a
 * value with a time zone or a fraction of a second stays text), objects and arrays JSON
 * text); `writeOnly` properties (secrets) are password inputs that never show a value: left
 * empty, they are not sent, so the stored secret is kept. A drop-down (an `enum`, a pick list, a field of the recipe's
 * record) that may be left unset starts with an empty choice naming the default: chosen,
 * nothing is sent, as for an emptied text input, so a saved value can be forgotten from the
 * form. An optional `Literal` (`enum` holding null) offers no "null": when null is the
 * default, the empty choice stands for it; otherwise null is the choice "None", as Python
 * names it. A boolean that may be None (`flag: bool | None`) is such a drop-down of True,
 * False and None, as in the notebook's form: a checkbox could neither show nor keep None.
 *
 * What is sent follows the notebook's form (lpstudio/widgets/form.py, `_kept`, `_given`,
 * `_sent`): a field the user left as shown sends nothing when it shows a default (the default
 * stays the notebook's or connector's, not a saved copy of it), and its stored value itself
 * when it shows a saved one (not its text read back); a field the user changed sends what it
 * holds. The text typed for a parameter with no type (`maybe = None`, `days = 7 * 24`) is sent
 * as text for the server to read as `lpstudio settings -p` does (`parsed`): 5 a number, True a
 * boolean, None null, by papermill's rule, which the form does not copy.
 */
import { ApiError, JsonSchema, PicklistOption } from './api';
import { el, FieldError } from './dom';
import LIST_EXAMPLES from '../../lpstudio/list_examples.json';

type Input = HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement;

export interface FieldOptions {
  /** Options for a property with `x-picklist`, fetched through a connection; refused with the
   * error to show beside the field (its message, and its fix if it has one). */
  picklist?: (prop: JsonSchema) => Promise<PicklistOption[]> | null;
  /** Disables every input (a role that may not change it). */
  readOnly?: boolean;
  /** The empty choice of a drop-down whose default is not known: what stands unset. */
  unset?: string;
  /** Values given that are text typed for a parameter with no type, not saved yet (the
   * user's changes kept when the form is shown again after a 409): still to be read. */
  typed?: string[];
}

/** A drop-down option's value for null, which is no text a user could give: not "null". */
const NULL_CHOICE = '\u2400null';

/** A whole number held as its digits: `JSON.stringify` writes them as they are (a number past
 * 2**53 is no JavaScript number: 9007199254740993 reads as 9007199254740992). */
type ExactInteger = { readonly rawJSON: string };

/** JSON with `rawJSON` and `isRawJSON` (ES2024: Chrome 114, Firefox 135, Safari 18.4): an
 * older browser has neither. */
const exactJson = JSON as unknown as { rawJSON?: (text: string) => ExactInteger; isRawJSON?: (value: unknown) => boolean };

function isExact(value: unknown): value is ExactInteger {
  return exactJson.isRawJSON?.(value) ?? false;
}

/** A value as a text input shows it: an exact whole number as its digits, nothing as ''. */
function asText(value: unknown): string {
  return value === undefined || value === null ? '' : isExact(value) ? value.rawJSON : String(value);
}

/** What each field's example says when the browser refuses its text. */
const EXAMPLES: Record<string, string> = {
  integer: 'a whole number, e.g. 7',
  number: 'a number, e.g. 2.5',
  array: 'a JSON list, e.g. ["a", "b"]',
  object: 'a JSON object, e.g. {"key": "value"}',
  date: 'a whole date: its day, month and year',
  'date-time': 'a whole date and time: its day, month, year, hour and minute'
};

/**
 * JSON as Python's `json.dumps` writes it (`, ` and `: `), so that the form's example of a list
 * reads as the API's fix does.
 */
function asPythonJson(value: unknown): string {
  if (Array.isArray(value)) {
    return `[${value.map(asPythonJson).join(', ')}]`;
  }
  if (value !== null && typeof value === 'object') {
    return `{${Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${asPythonJson(v)}`).join(', ')}}`;
  }
  return JSON.stringify(value);
}

/**
 * What a field of kind `k` is told to type: a list's example holds items of its type, from the
 * table the API's fixes read (`lpstudio/list_examples.json`): ["a", "b"] would be refused too.
 * A tuple's (`prefixItems`) takes the first of each of its items' types, as the API's fix does
 * (`_example` in lpstudio/parameters.py): a `tuple[int, str]`'s was told ["a", "b"].
 */
function example(k: string, prop: JsonSchema): string {
  const valued = itemExamples(prop.additionalProperties);
  if (k === 'object' && valued) {
    return `a JSON object, e.g. ${asPythonJson({ key: valued[0] })}`; // a dict[str, int]'s: {"key": 1}
  }
  const prefix = Array.isArray(prop.prefixItems) && prop.prefixItems.length ? prop.prefixItems : undefined;
  const examples = (prefix ?? [prop.items]).map(itemExamples);
  const known = examples.filter((items): items is unknown[] => items !== undefined);
  if (k !== 'array' || known.length < examples.length) {
    return EXAMPLES[k];
  }
  const listed = prefix ? known.map(items => items[0]) : known[0]; // a tuple: one of each
  return `a JSON list, e.g. ${asPythonJson(listed)}`;
}

/**
 * Example items of the type `spec` declares, as the API's fixes take them (`_item_examples` in
 * lpstudio/parameters.py): a date's as ISO text, which a `{"key": "value"}` is not; undefined
 * for one without an example.
 */
function itemExamples(spec: unknown): unknown[] | undefined {
  if (!spec || typeof spec !== 'object') {
    return undefined;
  }
  const { format, type } = spec as JsonSchema;
  if (type === undefined) {
    return undefined; // of any type (`dict[str, Any]`'s values): the kind's own example
  }
  const formats = LIST_EXAMPLES.formats as Record<string, string>;
  if (typeof format === 'string' && format in formats) {
    return [formats[format]];
  }
  return (LIST_EXAMPLES.items as Record<string, unknown[]>)[kind(spec as JsonSchema)];
}

/** A date and time a browser's date-and-time picker holds as it is: local, to the second. */
const LOCAL_MOMENT = /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?$/;

/**
 * Makes a `date-time` field's input a date-and-time picker (to the second) for `value` when it
 * holds it as it is, else a text input: a picker has no time zone (it would take
 * `2026-11-01T09:00:00+02:00` for no value) and cuts a fraction of a second to milliseconds.
 * The notebook's form keeps such a value as text too (`_pickable` in
 * lpstudio/widgets/form.py). What it sends is the ISO text either way.
 */
function fitMoment(input: HTMLInputElement, value: unknown): void {
  const picked = value === undefined || value === null || value === '' || (typeof value === 'string' && LOCAL_MOMENT.test(value));
  input.type = picked ? 'datetime-local' : 'text';
  input.step = '1';
}

function kind(schema: JsonSchema): string {
  const t = Array.isArray(schema.type) ? schema.type.find(x => x !== 'null') : schema.type;
  if (choices(schema)) {
    return 'enum';
  }
  return t ?? 'string';
}

/** Whether a property declares no type (nor choices): its field's text is read as `-p` reads
 * an untyped parameter's, by the server (papermill's `_resolve_type`). */
function untyped(schema: JsonSchema): boolean {
  return schema.type === undefined && !choices(schema);
}

/** What a drop-down of fixed values offers: an `enum`'s values, or a nullable boolean's. */
function choices(schema: JsonSchema): unknown[] | undefined {
  const types = Array.isArray(schema.type) ? schema.type : [];
  return schema.enum ?? (types.includes('boolean') && types.includes('null') ? [true, false, null] : undefined);
}

/** An `enum` value as its drop-down option's value. */
function optionValue(v: unknown): string {
  return v === null ? NULL_CHOICE : String(v);
}

/** An `enum` value as its drop-down option shows it: as Python names null and booleans. */
function choiceText(v: unknown): string {
  return v === null ? 'None' : typeof v === 'boolean' ? (v ? 'True' : 'False') : String(v);
}

/** Whether a stored value is of the type the property asks for (then it is sent as it is). */
function fits(prop: JsonSchema, value: unknown): boolean {
  const types = Array.isArray(prop.type) ? prop.type : prop.type ? [prop.type] : [];
  if (value === null) {
    return types.includes('null') || (prop.enum ?? []).includes(null);
  }
  const values = choices(prop);
  if (values) {
    return values.some(v => JSON.stringify(v) === JSON.stringify(value));
  }
  switch (kind(prop)) {
    case 'integer':
      return Number.isInteger(value) || isExact(value);
    case 'number':
      return typeof value === 'number';
    case 'boolean':
      return typeof value === 'boolean';
    case 'array':
      return Array.isArray(value);
    case 'object':
      return typeof value === 'object' && !Array.isArray(value);
    default:
      return types.length === 0 || typeof value === 'string';
  }
}

export class SchemaForm {
  readonly node: HTMLElement;

  constructor(
    private schema: JsonSchema,
    private values: Record<string, unknown>,
    private options: FieldOptions = {}
  ) {
    this.values = { ...values };
    this.typed = new Set(options.typed ?? []);
    this.node = el('div', { cls: 'lps-form' });
    const required = new Set(schema.required ?? []);
    for (const [name, prop] of Object.entries(schema.properties ?? {})) {
      const input = this.input(name, prop);
      this.inputs.set(name, input);
      this.shown.set(name, raw(input));
      input.disabled = !!options.readOnly;
      const label = el(
        'label',
        { cls: 'lps-field', attrs: { 'data-field': name } },
        el('span', { cls: 'lps-field-label', text: `${prop.title ?? name}${required.has(name) ? ' *' : ''}` }),
        input
      );
      if (prop.description) {
        label.append(el('span', { cls: 'lps-field-help', text: prop.description }));
      }
      if (prop.writeOnly) {
        label.append(el('span', { cls: 'lps-field-help', text: 'secret: write-only, never shown' }));
      }
      this.node.append(label);
    }
  }

  /**
   * The values to send, in their schema types; throws a `FieldError` naming the field when
   * one is bad. A field left as shown sends its stored value, or nothing if it shows a
   * default; one shown empty with no default is read as it is (a required one is refused
   * by name). Text the browser cannot read (`3e` in a number input, a date missing its day)
   * is refused too: the input then holds '', which would read as emptied and forget the
   * saved value.
   */
  value(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    this.texts.clear();
    for (const [name, input] of this.inputs) {
      const prop = this.schema.properties![name];
      if (input instanceof HTMLInputElement && input.validity.badInput) {
        throw input.type === 'date'
          ? this.refusal(name, prop, 'date', 'not a whole date')
          : input.type === 'datetime-local'
            ? this.refusal(name, prop, 'date-time', 'not a whole date and time')
            : this.refusal(name, prop, kind(prop), 'not a number');
      }
      const given = raw(input);
      if (prop.writeOnly && given === '') {
        continue; // keep the stored secret
      }
      if (given === this.shown.get(name) && name in this.values) {
        out[name] = this.kept(name, prop, given);
        if (this.typed.has(name) && out[name] === this.values[name]) {
          this.texts.add(name); // typed before a 409, still text to read
        }
        continue;
      }
      if (given === this.shown.get(name) && prop.default !== undefined) {
        continue; // the default it shows stays the default, not a saved copy of it
      }
      const read = this.read(name, prop, given);
      if (read !== undefined && !(prop.default !== undefined && same(read.value, prop.default))) {
        // Set to exactly the default (typed, or its choice picked): nothing is stored, so a
        // later change of the default applies, as the notebook's form does (`_holds_default`).
        out[name] = read.value;
        if (untyped(prop) && input instanceof HTMLInputElement) {
          this.texts.add(name); // a text box's text, not a drop-down's choice
        }
      }
    }
    return out;
  }

  /**
   * The fields whose value the last `value()` gave as the text typed for a parameter with no
   * type: sent in `parse`, the server reads each as `lpstudio settings -p` does (5 a number,
   * "abc" text), so the lab saves what the CLI and the notebook's form save.
   */
  parsed(): string[] {
    return [...this.texts];
  }

  /**
   * Shows `values` (the settings as they are saved now, e.g. after a save): each field its
   * saved value, else the default that applies; what the form then shows is what the user
   * left, as when it was made.
   */
  show(values: Record<string, unknown>): void {
    this.values = { ...values };
    this.typed.clear(); // saved: read by the server
    for (const [name, input] of this.inputs) {
      const prop = this.schema.properties![name];
      const saved = name in this.values;
      const typed = this.exact.get(name);
      if (saved && typed && this.values[name] === Number(typed.rawJSON)) {
        this.values[name] = typed; // the whole number saved as typed, read back rounded
      }
      const current = saved ? this.values[name] : prop.default;
      if (prop.writeOnly) {
        input.value = '';
        (input as HTMLInputElement).placeholder = this.secretHint(current);
      } else if (input instanceof HTMLSelectElement) {
        const value = saved && !(current === null && this.nullIsEmpty(name, prop)) ? optionValue(current) : '';
        if (value && ![...input.options].some(o => o.value === value)) {
          input.append(el('option', { text: `${String(current)} (saved)`, attrs: { value } }));
        }
        input.value = value;
      } else if (input instanceof HTMLInputElement && input.type === 'checkbox') {
        input.checked = !!current;
      } else if (input instanceof HTMLTextAreaElement) {
        // Kept as typed when it holds the same value (as the notebook's form keeps it).
        let same = false;
        try {
          same = input.value !== '' && JSON.stringify(JSON.parse(input.value)) === JSON.stringify(current);
        } catch {
          same = false;
        }
        if (!same) {
          input.value = current === undefined || current === null ? '' : JSON.stringify(current, null, 1);
        }
      } else {
        if (prop.format === 'date-time' && input instanceof HTMLInputElement) {
          fitMoment(input, current); // a value saved since may need the other input
        }
        input.value = asText(current);
      }
      this.shown.set(name, raw(input));
    }
  }

  /**
   * The fields left as shown whose saved value is a whole number past 2**53, which the
   * browser read rounded (saved by `lpstudio settings`, or shown again since): sent, the
   * rounded number would be saved. A save that keeps what it is not sent leaves them out.
   */
  rounded(): string[] {
    return [...this.inputs]
      .filter(([name, input]) => {
        const saved = this.values[name];
        return raw(input) === this.shown.get(name) && typeof saved === 'number' && Number.isInteger(saved) && !Number.isSafeInteger(saved);
      })
      .map(([name]) => name);
  }

  /**
   * What a field left as shown sends: its stored value itself (as the notebook's form's
   * `_given`), unless that no longer fits the parameter's type (`"5"` saved before it was an
   * int) and the field's text does; then the text, read as its type.
   */
  private kept(name: string, prop: JsonSchema, given: string | boolean): unknown {
    const stored = this.values[name];
    if (fits(prop, stored) || given === '') {
      return stored;
    }
    try {
      const read = this.read(name, prop, given);
      return read !== undefined && fits(prop, read.value) ? read.value : stored;
    } catch {
      return stored; // the server says why it does not fit, by name
    }
  }

  /** A field's text read as its schema type: undefined when nothing is to be sent. */
  private read(name: string, prop: JsonSchema, given: string | boolean): { value: unknown } | undefined {
    const k = prop['x-object-field'] && this.recordFields() ? 'field' : kind(prop);
    const bad = (what: string): FieldError => this.refusal(name, prop, k, `give ${what}`);
    if (k === 'boolean') {
      return { value: given };
    }
    if (k === 'integer' || k === 'number') {
      if (given === '') {
        return undefined;
      }
      if (k === 'integer') {
        return { value: this.integer(name, prop, String(given).trim()) };
      }
      const n = Number(given);
      if (isNaN(n)) {
        throw bad('a number');
      }
      return { value: n };
    }
    if (k === 'object' || k === 'array') {
      if (given === '') {
        return undefined;
      }
      try {
        return { value: JSON.parse(String(given)) };
      } catch {
        throw bad('valid JSON');
      }
    }
    if (k === 'enum') {
      if (given === '') {
        return undefined; // the empty choice: the default stands (a saved value is forgotten)
      }
      const match = (choices(prop) ?? []).find(v => optionValue(v) === given);
      return { value: match === undefined ? given : match };
    }
    if (k === 'field' && given === '') {
      return undefined; // the empty choice, as an enum's
    }
    if (given === '' && !(this.schema.required ?? []).includes(name)) {
      return undefined;
    }
    return { value: given };
  }

  /**
   * A whole number as `lpstudio settings -p` reads it (`scalars.whole`: digits and a sign, or
   * a number without a fraction, 1e3 or 1.0, as JSON's 1.0 is one), sent as typed: digits past
   * 2**53 as they are (`JSON.rawJSON`; the server reads JSON's whole numbers exactly), which
   * a browser without it cannot send.
   */
  private integer(name: string, prop: JsonSchema, typed: string): number | ExactInteger {
    if (!/^[+-]?[0-9]+$/.test(typed)) {
      const read = /^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)(e[+-]?[0-9]+)?$/i.test(typed) ? Number(typed) : NaN;
      if (Number.isSafeInteger(read)) {
        return read;
      }
      throw this.refusal(name, prop, 'integer', 'give a whole number');
    }
    const digits = BigInt(typed).toString(); // JSON's form: no plus sign, no leading zeros
    if (Number.isSafeInteger(Number(digits))) {
      return Number(digits);
    }
    const exact = exactJson.rawJSON?.(digits);
    if (!exact) {
      throw new FieldError(
        `${prop.title ?? name}: ${digits} is longer than this browser can send exactly`,
        name,
        `type a whole number from -${Number.MAX_SAFE_INTEGER} to ${Number.MAX_SAFE_INTEGER}, or save it with \`lpstudio settings RECIPE -p ${name} ${digits}\``
      );
    }
    this.exact.set(name, exact);
    return exact;
  }

  /** A field's text refused before it is sent (`why`), with the fix for its kind `k`. */
  private refusal(name: string, prop: JsonSchema, k: string, why: string): FieldError {
    const optional = prop.default !== undefined || !(this.schema.required ?? []).includes(name);
    return new FieldError(`${prop.title ?? name}: ${why}`, name, `type ${example(k, prop)}` + (optional ? ', or empty the field for the default' : ''));
  }

  private input(name: string, prop: JsonSchema): Input {
    const saved = name in this.values;
    const current = saved ? this.values[name] : prop.default;
    const k = kind(prop);
    if (prop.writeOnly) {
      const input = el('input', { cls: 'lps-input', attrs: { name, type: 'password', autocomplete: 'new-password' } });
      input.placeholder = this.secretHint(current);
      return input;
    }
    if (k === 'enum') {
      const select = el('select', { cls: 'lps-input', attrs: { name } });
      select.append(...this.unsetChoice(name, prop, choiceText));
      for (const v of choices(prop) ?? []) {
        if (v === null && this.nullIsEmpty(name, prop)) {
          continue; // the empty choice stands for it: the notebook's default is null
        }
        select.append(el('option', { text: choiceText(v), attrs: { value: optionValue(v) } }));
      }
      select.value = saved && !(current === null && this.nullIsEmpty(name, prop)) ? optionValue(current) : '';
      return select;
    }
    const fields = prop['x-object-field'] ? this.recordFields() : null;
    if (fields) {
      // A field of the recipe's record (the notebook's form offers the same): each with
      // its value in the record's sample, a saved one the record does not name kept.
      const select = el('select', { cls: 'lps-input', attrs: { name } });
      select.append(...this.unsetChoice(name, prop, v => String(v)));
      const chosen = saved && current !== null && current !== undefined ? String(current) : '';
      if (chosen && !fields.some(([f]) => f === chosen)) {
        select.append(el('option', { text: `${chosen} (saved)`, attrs: { value: chosen } }));
      }
      for (const [f, sample] of fields) {
        select.append(el('option', { text: sample ? `${f} (e.g. ${sample})` : f, attrs: { value: f } }));
      }
      select.value = chosen;
      return select;
    }
    if (k === 'boolean') {
      const input = el('input', { cls: 'lps-input', attrs: { name, type: 'checkbox' } });
      input.checked = !!current;
      return input;
    }
    if (k === 'object' || k === 'array') {
      const area = el('textarea', { cls: 'lps-input lps-json', attrs: { name, rows: '3' } });
      area.value = current === undefined || current === null ? '' : JSON.stringify(current, null, 1);
      return area;
    }
    const input = el('input', {
      cls: 'lps-input',
      attrs: { name, type: k === 'integer' || k === 'number' ? 'number' : prop.format === 'date' ? 'date' : 'text' }
    });
    if (prop.format === 'date-time' && k === 'string') {
      fitMoment(input, current);
    }
    input.value = asText(current);
    const options = prop['x-picklist'] && !this.options.readOnly ? this.options.picklist?.(prop) : null;
    if (options) {
      // A drop-down once the pick list arrives; the text input stays if it cannot be fetched
      // (a known value can still be typed), saying why beside it, as the notebook's form does.
      const select = el('select', { cls: 'lps-input', attrs: { name } });
      void options.then(
        list => {
          const text = (o: PicklistOption): string => (o.label && o.label !== o.value ? `${o.label} (${o.value})` : o.value);
          const values = list.map(o => o.value);
          // What was typed meanwhile is kept; the default shown while nothing is saved is
          // the empty choice, which names it.
          const left = input.value === this.shown.get(name);
          const chosen = !(name in this.values) && left ? '' : input.value;
          select.append(
            ...this.unsetChoice(name, prop, v => {
              const named = list.find(o => o.value === String(v));
              return named ? text(named) : String(v);
            })
          );
          if (chosen && !values.includes(chosen)) {
            select.append(el('option', { text: chosen, attrs: { value: chosen } }));
          }
          for (const o of list) {
            select.append(el('option', { text: text(o), attrs: { value: o.value } }));
          }
          select.value = chosen;
          input.replaceWith(select);
          this.inputs.set(name, select);
          if (left) {
            this.shown.set(name, select.value); // still as shown: the user changed nothing
          }
        },
        err =>
          input.after(
            el('span', { cls: 'lps-field-help lps-problem lps-picklist-error', text: `could not load the list: ${said(err)}` })
          )
      );
    }
    return input;
  }

  /** The record's fields (with their sample values) a parameter with `x-object-field`
   * chooses among, as the server lists them (`x-record-fields`); null without a record. */
  private recordFields(): [string, string][] | null {
    const fields = this.schema['x-record-fields'] as [string, string][] | undefined;
    return fields && fields.length ? fields : null;
  }

  /** Whether an optional `Literal` leaves null to its empty choice: its default is null (or
   * none, when it may be left unset). */
  private nullIsEmpty(name: string, prop: JsonSchema): boolean {
    return prop.default === null || (prop.default === undefined && !(this.schema.required ?? []).includes(name));
  }

  private secretHint(current: unknown): string {
    return current !== undefined && current !== null && current !== '' ? 'unchanged (****)' : '';
  }

  /**
   * A drop-down's empty first choice, naming what stands when nothing is chosen: none for a
   * required property with no default, which must be chosen. A default of null (an optional
   * `Literal`) is no value to name: it stands unset.
   */
  private unsetChoice(name: string, prop: JsonSchema, label: (value: unknown) => string): HTMLOptionElement[] {
    if (prop.default === undefined && (this.schema.required ?? []).includes(name)) {
      return [];
    }
    const text =
      prop.default === undefined || prop.default === null ? (this.options.unset ?? '(not set)') : `(default: ${label(prop.default)})`;
    return [el('option', { text, attrs: { value: '' } })];
  }

  private inputs = new Map<string, Input>();
  /** the fields `value()` last gave as text for the server to read (`parsed`) */
  private texts = new Set<string>();
  /** the given values that are text typed and not yet read (`FieldOptions.typed`) */
  private typed: Set<string>;
  /** the whole numbers past 2**53 typed and sent, shown as typed once saved (`show`) */
  private exact = new Map<string, ExactInteger>();
  /** what each input held when the form showed the values: unchanged, it sends no text */
  private shown = new Map<string, string | boolean>();
}

/** An error on one line, as the notebook's form shows it: what went wrong, then the fix. */
/** Whether two values read from fields are the same JSON value (a dict's keys in any order;
 * a whole number past 2**53, kept exact, written as its digits by `JSON.stringify`). */
function same(a: unknown, b: unknown): boolean {
  const canonical = (v: unknown): unknown =>
    isExact(v)
      ? v
      : Array.isArray(v)
        ? v.map(canonical)
        : v !== null && typeof v === 'object'
          ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([x], [y]) => (x < y ? -1 : 1)).map(([k, x]) => [k, canonical(x)]))
          : v;
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function said(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const fix = err instanceof ApiError || err instanceof FieldError ? err.fix : null;
  return fix ? `${message} (fix: ${fix})` : message;
}

/** What an input holds: a checkbox's state, else its text. */
function raw(input: Input): string | boolean {
  return input instanceof HTMLInputElement && input.type === 'checkbox' ? input.checked : input.value;
}
