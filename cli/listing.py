"""`list`: models, attacks, visualizations and their declared parameters."""
from __future__ import annotations


def command_list(args) -> int:
    import engine.universal  # noqa: F401  (registers the universal attacks)
    from engine.attacks import ATTACKS
    from engine.attacks.base import PER_IMAGE, UNIVERSAL
    from engine.models import BUILTIN_MODELS, ZOO_MODELS
    from engine.playground import ATTACK_PARAMS, DEFENSE_PARAMS, TRAINING_PARAMS
    from engine.visualize import VISUALIZATION_PARAMS

    print("Models")
    print(f"  built-in:    {', '.join(BUILTIN_MODELS)}")
    print(f"  torchvision: {', '.join(ZOO_MODELS)} (any torchvision classifier name; add ':random' for "
          "untrained weights)")
    print("  files:       TorchScript (.pt), torch.export (.pt2), state dict (.pth with --arch)")
    print("\nParameters are listed as NAME=DEFAULT  RANGE  MEANING, other domains' defaults in brackets; set them "
          "with --param NAME=VALUE")
    for family, heading in ((PER_IMAGE, "Attacks (run, stats)"),
                            (UNIVERSAL, "Universal attacks (run; targeted-universal also for gallery)")):
        print(f"\n{heading}")
        for spec in ATTACKS.values():
            if spec.family == family:
                print_attack(spec)
    print("\nVisualizations (visualize KIND)")
    for kind, params in VISUALIZATION_PARAMS.items():
        print_params(kind, params)
    print("\nPlayground (the GUI's Playground tab)")
    for params in (TRAINING_PARAMS, ATTACK_PARAMS, DEFENSE_PARAMS):
        print_params(params.name, params)
    print_training()
    print_fooling()
    return 0


def print_fooling() -> None:
    from engine.fooling.runs import METHOD_TITLES, parameter_sets

    print("\nFooling images (fool --encoding direct|cppn|gradient; the Fooling tab)")
    printed = set()
    for method, title in METHOD_TITLES.items():
        names = [params.name for params in parameter_sets(method)]
        print(f"  --encoding {method}: {title}; parameters of {' and '.join(names)}")
        for params in parameter_sets(method):
            if params.name not in printed:
                printed.add(params.name)
                print_params(params.name, params)


def print_training() -> None:
    from engine.architectures import ARCHITECTURES, torchvision_names
    from engine.core import ParamSet
    from engine.training import DEFENSES, FOLDER, TRAINING

    print("\nTraining (train --arch ARCH --defense DEFENSE --data samples|DIR --out MODEL.pt|.ts|.pt2; the Train "
          "tab)")
    print_params("training", TRAINING)
    for name, spec in ARCHITECTURES.items():
        print_params(f"--arch {name}", ParamSet(name, spec.options.params, summary=spec.summary))
        if spec.training_defaults:
            recipe = " ".join(f"{key}={value}" for key, value in spec.training_defaults.items())
            print(f"           its recipe (training defaults, --param overrides): {recipe}")
    print(f"  --arch TORCHVISION: for RGB image folders, random initial weights: {', '.join(torchvision_names())}")
    print_params("--data DIR", FOLDER)
    for name, params in DEFENSES.items():
        print_params(f"--defense {name}", params)


def print_attack(spec) -> None:
    from engine.core import ParamSet

    targeted = "needs --target" if spec.target_required else \
        "untargeted or --target" if spec.targeted else "untargeted"
    print_params(spec.name, ParamSet(spec.name, spec.params, spec.domain_defaults,
                                     summary=f"{spec.title}: {spec.summary} [{targeted}]"))


def print_params(name: str, params) -> None:
    print(f"  {name}: {params.summary}" + ("" if params.params else " (no parameters)"))
    for line in params.describe_lines():
        print(f"           {line}")
