/**
 * What every panel shares: the app, the calling user's permissions, and ways to open things.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { Dialog, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import { PageConfig } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';

import { Me } from './api';

/** What became of a job's output notebook that is not where the job wrote it (the API's
 * `output_missing`, which `lpstudio show` says as "missing: moved or deleted from history/"),
 * and the fix. */
export const OUTPUT_MISSING = 'moved or deleted from history/; put it back in history/ to open it';

/** Where the server puts `LpstudioApp.max_output_view_bytes` in the page's config: the largest
 * output notebook Open output loads without asking (a 46 MB one froze the tab for minutes). */
const MAX_OUTPUT_VIEW = 'lpstudioMaxOutputViewBytes';
/** Its default, the server's, for a server that says none. */
const MAX_OUTPUT_VIEW_DEFAULT = 8 << 20;

/** How an output notebook opens: without a kernel, since job history is read, never run. A
 * kernel started for it stayed alive until the server stopped, and the metadata it wrote
 * marked the read-only tab changed, so that closing it asked to save. */
const NO_KERNEL = { shouldStart: false, canStart: false, shouldReuse: false };

/** A size as people read it: 46.1 MB, 830 KB. */
export function readableSize(bytes: number): string {
  const units = ['bytes', 'KB', 'MB', 'GB'];
  let size = bytes;
  let unit = 0;
  while (size >= 1000 && unit < units.length - 1) {
    size /= 1000;
    unit += 1;
  }
  return unit === 0 ? `${size} bytes` : `${size.toFixed(size < 10 ? 1 : 0)} ${units[unit]}`;
}

/** The studio's commands (the palette, the launcher and the panels run them). */
export namespace CommandIDs {
  export const gallery = 'lpstudio:open-gallery';
  export const recipes = 'lpstudio:open-recipes';
  export const jobs = 'lpstudio:open-jobs';
  export const dashboard = 'lpstudio:open-dashboard';
  export const connections = 'lpstudio:open-connections';
  export const settings = 'lpstudio:open-settings';
  export const versions = 'lpstudio:open-versions';
  export const tryTemplate = 'lpstudio:try-template';
  export const openPanel = 'lpstudio:open-panel';
}

/** What lpstudio uses of a document widget (JupyterLab's `IDocumentWidget`). */
interface IOpenDocument {
  context: { path: string; revert(): Promise<void>; model: { dirty: boolean } };
}

export class StudioContext {
  constructor(
    readonly app: JupyterFrontEnd,
    readonly me: Me
  ) {}

  /** Emitted after anything changed recipes or jobs, so open panels refresh at once. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  notifyChanged(): void {
    this._changed.emit();
  }

  /** Opens a file of the server's tree (a notebook opens as a notebook). One not there (a
   * recipe moved or deleted since its list was drawn) is said in JupyterLab's error dialog,
   * with the fix: `docmanager:open` only rejected, a 404 in the console, and nothing opened. */
  async openPath(path: string): Promise<void> {
    const relative = this.relative(path);
    try {
      await this.app.commands.execute('docmanager:open', { path: relative });
    } catch (err) {
      if (!(err instanceof ServerConnection.ResponseError && err.response.status === 404)) {
        throw err;
      }
      await showErrorMessage(
        `Cannot open ${relative.split('/').pop()}`,
        `${relative} is not there: it was moved or deleted since the list was shown. ` +
          'Refresh the list to see where it is now, or whether it is gone.'
      );
    }
  }

  /**
   * Opens a job's output notebook as it is now, with no kernel (`NO_KERNEL`). Output
   * notebooks are read-only (job history is written by its job alone), so one already open
   * in a tab is reloaded from disk before it is shown: the tab kept the snapshot taken when
   * it was first opened. One moved or deleted is refused with the fix (JupyterLab opened an
   * empty tab, a 404 in the console). One larger than the server's bound asks first, saying
   * its size, and offers its download instead.
   */
  async openOutput(path: string): Promise<void> {
    const relative = this.relative(path);
    let size: number | undefined;
    try {
      size = (await this.app.serviceManager.contents.get(relative, { content: false })).size;
    } catch (err) {
      if (err instanceof ServerConnection.ResponseError && err.response.status === 404) {
        throw new Error(`the output notebook ${relative} is missing: ${OUTPUT_MISSING}`);
      }
      throw err;
    }
    if (typeof size === 'number' && size > maxOutputViewBytes()) {
      const choice = await askBeforeOpening(relative, size);
      if (choice === 'download') {
        await this.download(relative);
      }
      if (choice !== 'open') {
        return;
      }
    }
    for (const open of this.openDocuments(relative)) {
      await open.context.revert();
    }
    await this.app.commands.execute('docmanager:open', { path: relative, kernelPreference: NO_KERNEL });
  }

  /** Downloads a file of the server's tree (`path` relative to its root), as the file
   * browser's Download does. */
  private async download(path: string): Promise<void> {
    const link = document.createElement('a');
    link.href = await this.app.serviceManager.contents.getDownloadUrl(path);
    link.download = path.split('/').pop() ?? '';
    document.body.appendChild(link);
    link.click();
    link.remove();
  }

  /** How many tabs show a recipe's notebook, and how many of them hold unsaved changes
   * (JupyterLab counts a kernel's start among them, as it writes the notebook's metadata). */
  recipeTabs(recipe: string): { open: number; unsaved: number } {
    const open = this.openDocuments(`projects/${recipe}`);
    return { open: open.length, unsaved: open.filter(doc => doc.context.model.dirty).length };
  }

  /**
   * Reloads the tabs showing a recipe's notebook from disk, which something else wrote (a
   * restore, which says first that unsaved changes are lost): JupyterLab would notice only
   * at a tab's next save, and its "File Changed" dialog offered to write the tab over it.
   */
  async reloadRecipe(recipe: string): Promise<void> {
    await Promise.all(this.openDocuments(`projects/${recipe}`).map(doc => doc.context.revert()));
  }

  /** The main area's documents open at `path` (relative to JupyterLab's root): a notebook
   * may be open as a notebook and in the editor at once. */
  private openDocuments(path: string): IOpenDocument[] {
    return [...this.app.shell.widgets('main')].filter(widget => {
      const context = (widget as Partial<IOpenDocument>).context;
      return context?.path === path && typeof context.revert === 'function';
    }) as unknown as IOpenDocument[];
  }

  /** A path the server may answer as absolute, relative to JupyterLab's root. */
  relative(path: string): string {
    const root = (PageConfig.getOption('serverRoot') || '').replace(/\/+$/, '');
    if (root && path.startsWith(root + '/')) {
      return path.slice(root.length + 1);
    }
    const history = path.lastIndexOf('/history/');
    if (path.startsWith('/') && history >= 0) {
      return path.slice(history + 1); // the server's root is the workspace
    }
    return path;
  }

  /** Opens the Connections panel, where the lab creates, tests and edits connections. */
  async openConnections(): Promise<void> {
    await this.app.commands.execute(CommandIDs.connections);
  }

  /** Opens a recipe's versions, each with its Restore: how the lab mends a recipe whose
   * notebook no longer loads (its Settings cannot show it). */
  async openVersions(recipe: string): Promise<void> {
    await this.app.commands.execute(CommandIDs.versions, { recipe });
  }

  /** Opens a recipe notebook: recipes live under the workspace's projects/ folder. */
  async openRecipe(recipe: string): Promise<void> {
    await this.openPath(`projects/${recipe}`);
  }

  private _changed = new Signal<this, void>(this);
}

/** The largest output notebook Open output loads without asking, as the server set it. */
function maxOutputViewBytes(): number {
  const given = Number(PageConfig.getOption(MAX_OUTPUT_VIEW));
  return given > 0 ? given : MAX_OUTPUT_VIEW_DEFAULT;
}

/** What the user chose for an output notebook too big to load lightly: its size said. */
async function askBeforeOpening(path: string, size: number): Promise<'open' | 'download' | 'cancel'> {
  const name = path.split('/').pop();
  const answer = await showDialog({
    title: `Open ${name}? It is ${readableSize(size)}`,
    body:
      `The output notebook ${path} is ${readableSize(size)} (${size} bytes), over the ` +
      `${readableSize(maxOutputViewBytes())} the studio opens without asking: loading it may ` +
      'take minutes and much of the browser\'s memory, the tab frozen meanwhile. Download it ' +
      'to read it elsewhere, or open it anyway.',
    buttons: [
      Dialog.cancelButton(),
      Dialog.okButton({ label: 'Download', displayType: 'default', actions: ['download'] }),
      Dialog.warnButton({ label: 'Open anyway', actions: ['open'] })
    ],
    defaultButton: 1 // Enter downloads: opening is the choice that may freeze the tab
  });
  if (!answer.button.accept) {
    return 'cancel';
  }
  return answer.button.actions.includes('download') ? 'download' : 'open';
}
