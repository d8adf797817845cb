/**
 * The fix for what is wrong with a recipe's settings, in the lab's terms. The API's fixes
 * name its routes (`PUT /lpstudio/api/v1/connections/lp {...}`, under the server's base URL:
 * `/user/NAME/lpstudio/...` in JupyterHub, which the patterns take as `\S*`), and what it
 * answers besides errors (a settings problem, a connection's status) the CLI's commands (`lpstudio
 * connections add ...`, `-p days 7`); in the lab a slot is
 * filled in the Connections panel and chosen in the recipe's settings form, a value corrected
 * there. Shared by the settings form and the Recipes sidebar, which say where the form is.
 */
import { api, ApiError, Connection, Job, JsonSchema, Permission, Slot } from './api';
import LAB_TERMS from '../../lpstudio/lab_terms.json';
import ROLES from '../../lpstudio/roles.json';
import { el, errorBox, FieldError, labelOf, markField } from './dom';

export interface FixContext {
  /** the recipe's connection slots and parameter schema */
  slots: Record<string, Slot>;
  parameters: JsonSchema;
  /** the workspace's connections */
  connections: Connection[];
  /** the connection chosen (or bound) for a slot, if any */
  chosen: (slot: string) => string | undefined;
  /** where the recipe's fields are from the fix, as the user sees it: `below` (a fix shown
   * above them), `above`, `in the Settings of shop/cart` */
  form: string;
  /** what the user's role may do (`me.can`): a fix it cannot carry out is asked of a role
   * that can */
  can: Record<Permission, boolean>;
}

/** `fix` as the user can follow it: as it is where their role has `permission`, which its
 * action needs, else as a request to the roles that have it, the least permitted first ("ask
 * an analyst or admin to ..."), from the table the API reads (`lpstudio/roles.json`), as the
 * API says its own fixes (`roles.asked` in lpstudio/roles.py). */
export function asked(fix: string, permission: Permission, can: Record<Permission, boolean>): string {
  if (can[permission]) {
    return fix;
  }
  const able = [...ROLES.permissions[permission]].reverse();
  return `ask ${/^[aeiou]/.test(able[0]) ? 'an' : 'a'} ${able.join(' or ')} to ${fix}`;
}

/** The API's fix for a parameter in the command line's terms (`save another value with
 * \`lpstudio settings R -p x ...\`, or forget it with --reset x`): in the lab the field is
 * corrected in the form. Its other fixes for a parameter say more than that (what the value
 * takes, where a connection's secret goes) and stand as they are. */
const SET_WITH_CLI = /`lpstudio settings |PUT \S*\/lpstudio\/api\/v1\/recipes\/\S+\/settings \{"parameters"/;

/** How the API's fix for a parameter never given begins (`parameters.NOT_GIVEN`): set, not
 * corrected; asked of a role that can save settings, where the user's cannot (`asked`). */
const NOT_GIVEN = /^(?:ask [^;]*? to )?give it with /;

/**
 * The API's words for the command line and its REST routes, and the lab's for each: one
 * table (`lpstudio/lab_terms.json`, bundled at build time) that the notebook's widgets read
 * too (`lab_text` in lpstudio/widgets/common.py). A connection's secrets are given with its
 * Edit and tried with its Test in the Connections panel; a recipe's name and project in Try
 * recipe's form; a poll's since moved by Start, from the Since typed in its Settings.
 */
const IN_LAB_TERMS: [RegExp, string, string | undefined][] = LAB_TERMS.rules.map((rule: { pattern: string; lab: string; where?: string }) => [
  new RegExp(rule.pattern, 'g'),
  rule.lab,
  rule.where
]);

/** `text` (an error's fix or message, a connection's status message) with the command
 * lines it names in the lab's terms; `where` the recipe's fields are, if it is about them
 * (a rule with a `where` of its own applies there only). */
export function labText(text: string, where = "in the recipe's Settings"): string {
  return IN_LAB_TERMS.reduce(
    (said, [pattern, lab, only]) =>
      only === undefined || only === where ? said.replace(pattern, (...match: unknown[]) => filled(lab, where, match)) : said,
    text
  );
}

/** A rule's `lab` text for one match (a replacer's arguments: the match, its groups, then
 * its offset): `{1}`, `{2}`... its groups (one that took no part: empty), `{where}` where
 * the recipe's fields are. */
function filled(lab: string, where: string, match: unknown[]): string {
  const groups = match.slice(1, match.findIndex(arg => typeof arg === 'number'));
  return lab.replace(/\{(\d+|where)\}/g, (_, key: string) =>
    key === 'where' ? where : String(groups[Number(key) - 1] ?? '')
  );
}

/** A job error's own fix, apart from what its error said (a dead kernel's, a timeout's:
 * `lpstudio show` prints it on the line below), in the lab's terms with `where` the recipe's
 * form is: the Jobs panel and the Settings panel's Test show it alike. None without one. */
export function jobErrorFix(job: Job, where: string): HTMLElement | null {
  const fix = job.error?.fix;
  return fix ? el('div', { cls: 'lps-error-fix', text: `fix: ${labText(String(fix), where)}` }) : null;
}

/** An error with its message and fix in the lab's terms (`labText`). */
export function labError(err: unknown, where?: string): unknown {
  return err instanceof ApiError
    ? new ApiError(err.status, err.code, labText(err.message, where), err.field, err.fix && labText(err.fix, where))
    : err;
}

/**
 * A refusal of `form` (Import package's, Try recipe's, the browser's own of a field left
 * empty) shown with its field named as the form labels it (`Into folder`, not the REST API's
 * `into`, in its message too) and, with the lab's fix, marked on that field (`markField`),
 * whose description it is.
 */
export function refusedIn(form: HTMLElement, err: unknown, where?: string): HTMLElement {
  const lab = labError(err, where);
  const field = lab instanceof ApiError || lab instanceof FieldError ? lab.field : null;
  const label = labelOf(form, field);
  const named = (message: string): string => (label ? message.split(`\`${field}\``).join(label) : message);
  let shown = lab;
  if (lab instanceof ApiError && label) {
    shown = new ApiError(lab.status, lab.code, named(lab.message), label, lab.fix);
  } else if (lab instanceof FieldError && label) {
    shown = new FieldError(named(lab.message), label, lab.fix);
  }
  const box = errorBox(shown);
  markField(form, field, box);
  return box;
}

/** The lab's fix for an error about `field`: for a slot, where a connection is made (with
 * what each one the API's fix names needs) or chosen in the lab; for a parameter the API's
 * own fix, but where it says to set it with the command line; the API's own fix when it is
 * about none of the recipe's slots or parameters, with the command lines it names in the
 * lab's terms (the API asked it of a role that can, where the user's cannot). The lab's own
 * words need what the Connections panel's New, Edit and Test and the Settings' Save need,
 * which the lab offers only to a role that may build: asked of one, to any other. */
export function labFix(field: string | null, fix: string | null, c: FixContext): string | null {
  const own = ownFix(field, fix, c);
  return own === null ? fix && labText(fix, c.form) : asked(own, 'build', c.can);
}

/** `labFix`'s own words for a slot or a parameter of the recipe; null where it says the
 * API's fix. */
function ownFix(field: string | null, fix: string | null, c: FixContext): string | null {
  const slot = field?.startsWith('connections.') ? field.slice('connections.'.length) : '';
  const info = c.slots[slot];
  if (info) {
    const name = c.chosen(slot);
    const chosen = c.connections.find(k => k.name === name);
    // Deleted meanwhile (in another tab, by the CLI): no test can mend it.
    if (name && !chosen) {
      return `create ${name} in the Connections panel, or choose another ${info.type} connection for ${slot} under Connections ${c.form}, then Save`;
    }
    if (chosen?.type === info.type && chosen.status === 'placeholder') {
      return `give ${chosen.name} its secrets with Edit in the Connections panel (it was imported without them), Test it, then try again`;
    }
    if (chosen?.type === info.type && chosen.status !== 'connected') {
      return `test ${chosen.name} in the Connections panel (and correct its fields there if the test fails), then try again`;
    }
    return c.connections.some(k => k.type === info.type)
      ? `choose a ${info.type} connection for ${slot} under Connections ${c.form}, then Save`
      : createFix(slot, info.type, fix, c.form);
  }
  const name = (field ?? '').replace(/^parameters\./, '').split('.')[0];
  if (!name || !c.parameters.properties?.[name] || (fix && !SET_WITH_CLI.test(fix))) {
    return null;
  }
  // A value never given (a parameter its cell declares with no default) is set, not corrected.
  return `${fix && NOT_GIVEN.test(fix) ? 'set' : 'correct'} ${name} ${c.form}, then Save`;
}

/** A connection the API's fix says to create for a slot no connection fills
 * (`connections._no_connection`, in the REST API's terms: `POST /lpstudio/api/v1/connections
 * {"name": "http", "type": "http", "fields": {"token": ...}}`): its name (its slot's), its
 * type and the fields it must be given. */
const TO_CREATE = /POST \S*\/lpstudio\/api\/v1\/connections \{"name": "([\w-]+)", "type": "([\w-]+)", "fields": \{([^}]*)\}\}/g;

/** `items` said as a list: `a`, `a and b`, `a, b and c`. */
function listed(items: string[]): string {
  return items.length > 1 ? `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}` : items.join('');
}

/** The lab's fix for `slot` when the workspace holds no `type` connection: every connection
 * the API's `fix` says to create (one for each slot no connection fills), with the fields
 * each needs (a webhook's `token` too), so that one made as said is not refused again;
 * one `type` connection for `slot` where the fix names none (a slot shown without an error).
 * The notebook's form says the same (`RecipeForm._studio_fix`). */
function createFix(slot: string, type: string, fix: string | null, where: string): string {
  const wanted = [...(fix ?? '').matchAll(TO_CREATE)].map(([, name, kind, fields]) => {
    const given = [...fields.matchAll(/"([\w-]+)": /g)].map(([, field]) => field);
    return { name, said: `${kind} connection${given.length ? ` with its ${listed(given)}` : ''}` };
  });
  if (!wanted.some(w => w.name === slot)) {
    return `create a ${type} connection in the Connections panel, then choose it for ${slot} ${where} and Save`;
  }
  if (wanted.length === 1) {
    return `create a ${wanted[0].said} in the Connections panel, then choose it for ${slot} ${where} and Save`;
  }
  const last = wanted[wanted.length - 1];
  const slots = wanted.map(w => w.name).join(', ');
  return (
    `create a ${wanted.slice(0, -1).map(w => w.said).join(', a ')}, and a ${last.said}, in the Connections panel; ` +
    `then choose each for its slot (${slots}) under Connections ${where} and Save`
  );
}

/** The error with the lab's fix in place of the API's (and its message in the lab's terms:
 * a connection's test failure it quotes names the command line too). */
export function withLabFix(err: unknown, c: FixContext): unknown {
  return err instanceof ApiError
    ? new ApiError(err.status, err.code, labText(err.message, c.form), err.field, labFix(err.field, err.fix, c))
    : err;
}

/**
 * An error of an action on `recipe` taken away from its row and its Settings (the Jobs
 * panel's Rerun): its fix as the Recipes sidebar says it, read from the recipe as it is now
 * (a parameter it now requires: correct it in its Settings); a recipe gone since keeps the
 * API's fix in the lab's terms.
 */
export async function recipeLabError(err: unknown, recipe: string, can: Record<Permission, boolean>): Promise<unknown> {
  if (!(err instanceof ApiError)) {
    return err;
  }
  const form = `in the Settings of ${recipe}`;
  try {
    const [detail, connections] = await Promise.all([api.recipe(recipe), api.connections()]);
    return withLabFix(err, {
      slots: detail.connections ?? {},
      parameters: detail.parameters ?? {},
      connections,
      chosen: slot => detail.settings.connections?.[slot],
      form,
      can
    });
  } catch {
    return labError(err, form);
  }
}

/**
 * A connection that recipes use cannot be deleted (as in Workato): the API's fix names
 * `lpstudio settings` and `lpstudio stop`; in the lab a slot is bound in the recipe's Settings.
 */
export function inUseFix(err: unknown, name: string): unknown {
  if (!(err instanceof ApiError) || err.field !== 'connection' || !err.message.includes('is used by')) {
    return err;
  }
  const fix = `choose another connection (or the automatic choice) for each of those slots in the recipe's Settings, and stop a started recipe that uses it by default; then delete ${name}`;
  return new ApiError(err.status, err.code, err.message, err.field, fix);
}
