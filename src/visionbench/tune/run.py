"""`visionbench tune` on a real model and dataset: the three phases of
`visionbench.tune.command` with the one training loop as the objective."""

from __future__ import annotations

import argparse
import datetime

import numpy as np
import torch

from visionbench import models, profiles
from visionbench.core.exits import EXIT_PASS, BadInput, say
from visionbench.data.folders import DataError
from visionbench.measure import fingerprint
from visionbench.tune import accuracy, command, output, space, worth
from visionbench.tune.data import prepare
from visionbench.tune.search import Config, Search, Trial, evaluate, greedy
from visionbench.tune.trials import to_target


def _device(choice: str) -> torch.device:
    if choice == "cuda" and not torch.cuda.is_available():
        raise BadInput("--device cuda: no CUDA device here")
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(choice)


def _model(text: str | None, profile: profiles.Profile) -> str:
    if text is None:
        return profile.recipe.model
    if "=" in text:
        from visionbench.models import user

        try:
            model = user.load(text)
        except ValueError as exc:
            raise BadInput(f"--model {text}: {exc}") from None
        models.register_user(model)
        return model.name
    if text not in models.names():
        raise BadInput(f"--model: unknown model {text!r}; known: {', '.join(models.names())}")
    return text


def tune(args: argparse.Namespace, names: tuple[str, ...]) -> int:
    clock = command.Clock(args.budget)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    try:
        profile = profiles.get(args.profile or profiles.default_profile_name())
    except ValueError as exc:
        raise BadInput(f"--profile: {exc}") from None
    device = _device(args.device)
    model = _model(args.model, profile)
    target = args.target if args.target is not None else profile.target_accuracy
    try:
        data = prepare(args.data, profile, args.workdir, say)
    except (ValueError, FileNotFoundError, DataError) as exc:
        raise BadInput(f"--data {args.data}: {exc}") from None
    switches, left_out = space.space(profile, device, names)
    for what, why in left_out.items():
        say(f"left out: {what}: {why}")
    epochs = profile.recipe.epochs
    say(
        f"tune: {model} on {data.name} ({device}), target {target:.1%} within {epochs} epochs, "
        f"budget {args.budget:g} min; switches: {', '.join(s.name for s in switches)}"
    )

    count = iter(range(1, 10**6))

    def objective(config: Config, bound: float | None) -> Trial:
        recipe = space.recipe_of(profile, config, model)
        o = to_target(recipe, data, device, command.SEARCH_SEED, target, bound)
        note = (
            f"cut at {o.train_time_s:.2f} s (bound {bound:.2f} s)"
            if o.pruned
            else "diverged (NaN loss)"
            if o.diverged
            else ""
            if o.time_s is not None
            else f"not reached in {o.epochs} epochs"
        )
        say(
            f"[{clock.elapsed():5.0f} s] trial {next(count)}: {config.label(switches)}: "
            + (f"{o.time_s:.2f} s to {target:.1%} (epoch {o.epochs})" if o.time_s else note)
        )
        return Trial(
            config, o.time_s, o.accuracy, o.epochs, note, pruned=o.pruned, spent_s=o.train_time_s
        )

    search = greedy(
        switches,
        objective,
        out_of_time=lambda: clock.past(command.SEARCH_SHARE),
        min_gain=command.MIN_GAIN,
        time_left=lambda: max(0.0, command.SEARCH_SHARE * clock.total_s - clock.elapsed()),
    )
    say(
        f"search: {len(search.trials)} trials, {search.stopped}; winner: "
        f"{search.winner.label(switches)}"
    )
    if not search.ranked():
        best = max((t.accuracy or 0.0 for t in search.trials.values()), default=0.0)
        raise BadInput(
            f"--target {target:.1%}: no configuration reached it within {epochs} epochs in "
            f"the budget ({len(search.trials)} trials, the best reached {best:.1%}); lower "
            "--target, raise --budget, or choose a larger --profile"
        )
    for config in worth.designed_set(search):
        if clock.past(command.SHAPLEY_SHARE):
            break
        left = max(0.0, command.SHAPLEY_SHARE * clock.total_s - clock.elapsed())
        evaluate(objective, config, left, search, "shapley")
    result = output.Result(switches, left_out, search)
    confirm(result, profile, model, data, device, target, args, clock)
    result.worth, result.estimated, result.coalitions = worth.worth(search)
    result.wall_s = clock.elapsed()
    report(result, profile, model, data, device, target, args)
    return EXIT_PASS


def confirm(result, profile, model, data, device, target, args, clock) -> None:
    """The winner, its runners-up and the baseline from fresh seeds, seed by seed (the
    members of a pair minutes apart at most, so that a machine whose load drifts slows
    both). A trial is cut where the budget ends: its pair is censored, and a cut baseline
    still bounds the speed-up from below (what it spent over the winner's time)."""
    search: Search = result.search
    top = [search.winner, *(c for c in search.runners_up(args.top - 1) if c != search.baseline)]
    seeds = [command.SEARCH_SEED + 1 + i for i in range(args.seeds)]
    times: dict[Config, list[float | None]] = {}
    spent: dict[Config, list[float]] = {}
    hits: dict[Config, list[np.ndarray | None]] = {}  # per seed: None where cut
    accs: dict[Config, list[float | None]] = {}

    def train(config: Config, seed: int) -> None:
        left = max(0.0, clock.total_s - clock.elapsed())
        recipe = space.recipe_of(profile, config, model)
        o = to_target(recipe, data, device, seed, target, bound_s=left)
        times.setdefault(config, []).append(o.time_s)
        spent.setdefault(config, []).append(o.train_time_s)
        hits.setdefault(config, []).append(None if o.pruned else o.outcomes)
        accs.setdefault(config, []).append(None if o.pruned else o.accuracy)
        what = (
            f"{o.time_s:.2f} s"
            if o.time_s
            else f"cut at the budget's end ({o.train_time_s:.1f} s)"
            if o.pruned
            else f"not reached ({o.accuracy:.1%})"
        )
        say(
            f"[{clock.elapsed():5.0f} s] confirm seed {seed}: "
            f"{config.label(search.switches)}: {what}"
        )

    every = [*top, search.baseline] if search.winner != search.baseline else top
    plan = [[(c, seed) for c in every] for seed in seeds]
    for round_ in plan:
        if clock.past(1.0):
            result.notes.append("confirmation stopped where the budget was spent")
            break
        for config, seed in round_:
            train(config, seed)
    result.seed_times, result.seed_accuracy = times, accs

    def contrast(a: Config, b: Config, who: str) -> output.Contrast:
        """b's time over a's, paired seed by seed (a censored b bounds it from below)."""
        pairs, censored, speed, low, high = command.speedup_interval(times[a], times[b])
        bounds = [o / w for w, t, o in zip(times[a], times[b], spent[b], strict=False)
                  if w and t is None]  # fmt: skip
        return output.Contrast(who, pairs, censored, speed, low, high, command.CONFIDENCE,
                               at_least=min(bounds) if bounds else None)  # fmt: skip

    if search.winner not in times:
        return
    runners = []
    for config in top[1:]:
        if config in times:
            label = config.label(search.switches)
            runners.append((config, contrast(search.winner, config, f"runner-up ({label})")))
    result.contrasts += [c for _, c in runners]
    result.recommended, result.overturned_by = command.recommend(search.winner, runners)
    if search.baseline in times and result.recommended != search.baseline:
        result.contrasts.append(contrast(result.recommended, search.baseline, "baseline"))
        for config in top:  # each confirmed configuration's final accuracy, paired
            if config in hits:
                judged = accuracy.final_accuracy(hits[config], hits[search.baseline])
                if judged is not None:
                    result.accuracy[config] = judged


def report(result, profile, model, data, device, target, args) -> None:
    search = result.search
    switches = search.switches
    print(
        f"\nvisionbench tune: {model} on {data.name}, {device}, target {target:.1%} "
        f"({profile.name} profile's recipe: {profile.recipe.epochs} epochs at "
        f"{profile.recipe.image_size} px)\n"
    )
    print(output.trials_table(result))
    print(f"\nsearch: greedy forward selection, {len(search.trials)} trials, {search.stopped}")
    if result.left_out:
        print("left out: " + "; ".join(f"{k} ({v})" for k, v in result.left_out.items()))
    winner = result.recommended or search.winner
    print(f"\nrecommended: {winner.label(switches)}")
    if winner != search.winner:
        print(
            f"  (the search's one seed chose {search.winner.label(switches)}; over the fresh "
            f"seeds this runner-up was faster: {1 / result.overturned_by:.2f}× its speed)"
        )
    for name, value in winner.as_dict().items():
        print(f"  {name:14} {value}")
    print(
        f"\nconfirmed over fresh seeds, {command.CONFIDENCE:.0%} intervals (the other's time "
        "over the search's winner's, against the baseline the recommendation's):"
    )
    for c in result.contrasts:
        print(f"  {c.other}: {c.text()}")
    runner = [c for c in result.contrasts if c.other.startswith("runner-up")]
    if runner and not any(c.significant for c in runner):
        print(
            f"  no significant difference between the top {len(runner) + 1}: any of them "
            "is as fast here"
        )
    if winner in result.accuracy:
        print(
            "  final test accuracy against the baseline's, paired over the test images and "
            f"seeds: {result.accuracy[winner].text()}"
        )
    for note in result.notes:
        print(f"  {note}")
    if result.worth:
        print(
            "\nwhat each switch of the search's winner is worth (Shapley values; 'alone': "
            "from the baseline, 'added last': to the rest of the winner):"
        )
        print(output.worth_table(result))
        if result.estimated:
            print(
                f"({result.estimated} of {result.coalitions} coalitions estimated by a fit of "
                "main effects and pairs: not trained within the budget, or infeasible)"
            )
    recipe = space.recipe_of(profile, winner, model)
    print("\nin PyTorch:\n")
    print(output.snippet(winner.as_dict(), recipe, device.type, recipe.train.augment))
    describe = {
        "model": model,
        "dataset": data.name,
        "device": str(device),
        "image_size": profile.recipe.image_size,
        "epochs": profile.recipe.epochs,
        "profile": profile.name,
        "eval_images": len(data.test),  # every accuracy's test images (its binomial noise)
    }
    out = args.out or output.OUT_DIR / (datetime.datetime.now().strftime("%Y%m%d-%H%M%S") + ".json")
    fp = fingerprint.fingerprint(profile.name)
    path = output.save(out, output.run_json(result, describe, target, fp))
    print(
        f"\nwall time {result.wall_s:.0f} s of a {args.budget:g}-minute budget; "
        f"trials saved to {path}"
    )
