"""`make demo`: the cart-abandonment walkthrough, end to end, on the embedded defaults.

Starts the sandbox (LivePerson and Shopify emulators on loopback), creates a fresh demo
workspace whose connections point at it, copies the cart-abandonment template into a
project, polls its Shopify trigger once (one job for the new abandoned checkouts), and
prints what the job sent and where its output notebook is. The same steps by hand:

    lpstudio sandbox --port 8765 &
    lpstudio init demo-workspace --accept-terms --sandbox http://127.0.0.1:8765
    lpstudio gallery try cart_abandonment --project demo -w demo-workspace
    lpstudio settings demo/cart_abandonment --since 1d -w demo-workspace
    lpstudio poll demo/cart_abandonment -w demo-workspace
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
from pathlib import Path

from .sandbox import Sandbox
from .studio import Studio


def lpstudio_command() -> str:
    """How this shell reaches the `lpstudio` the demo ran with: by name when it is on the
    PATH (the environment is activated), else by its path (`.venv/bin/lpstudio`, as `make
    demo` leaves it: a newcomer's `lpstudio` was "command not found")."""
    here = Path(sys.executable).parent / "lpstudio"
    found = shutil.which("lpstudio")
    if found and Path(found).resolve() == here.resolve():
        return "lpstudio"
    with contextlib.suppress(ValueError):
        return str(here.absolute().relative_to(Path.cwd()))
    return str(here)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lpstudio.demo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--workspace",
        type=Path,
        default=Path("demo-workspace"),
        help="the demo workspace, made afresh (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    root: Path = args.workspace
    if (root / "lpstudio.toml").exists():
        shutil.rmtree(root)
    with Sandbox() as sandbox:
        print(f"sandbox:    {sandbox.url} (LivePerson and Shopify emulators)")
        with Studio.init(root, accept_terms=True, sandbox=sandbox.url) as studio:
            print(f"workspace:  {studio.workspace.root}")
            for info in studio.connections.list():
                tested = studio.connections.test(info.name)
                said = f", {tested.status_message}" if tested.status_message else ""
                print(f"connection: {info.name} ({info.type}): {tested.status}{said}")
            recipe = studio.try_template("cart_abandonment", "demo")
            print(f"recipe:     {studio.workspace.recipe_name(recipe)}")
            # The sandbox's carts were abandoned in the last hours: a first poll would start
            # from now (as a start does), and find none of them.
            studio.save_settings("demo/cart_abandonment", since="1d")
            jobs = studio.poll("demo/cart_abandonment")
            if not jobs:
                print("no abandoned checkouts found")
                return 1
            for job in jobs:
                result = job.result or {}
                print(
                    f"\njob {job.id} {job.status}: {result.get('checkouts', 0)} abandoned "
                    "checkout(s)"
                )
                for campaign in result.get("campaigns", []):
                    print(
                        f"  campaign {campaign['proactiveCampaignId']}: "
                        f"{campaign['accepted']} accepted, {campaign['failed']} failed"
                    )
                print(
                    f"  accepted: {result.get('accepted', 0)}, "
                    f"failed: {len(result.get('failed', []))}"
                )
                if job.error:
                    print(f"  error: {job.error.get('ename')}: {job.error.get('evalue')}")
                print(f"  output notebook: {studio.workspace.root / (job.output_path or '')}")
            print(f"\nsee the history with: {lpstudio_command()} jobs -w", root)
            return 0 if all(job.status == "succeeded" for job in jobs) else 1


if __name__ == "__main__":
    sys.exit(main())
