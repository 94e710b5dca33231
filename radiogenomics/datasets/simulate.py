"""Simulation of the synthetic demo cohort.

Every patient has three hidden biological factors (``proliferation``, ``hypoxia``,
``immune``) drawn around the mean of one of three subtypes, and driver mutations
(TP53, EGFR, KRAS) with known effects. From these follow:

- a 3-D MR-like image and tumour mask: tumour size grows with proliferation; a dark
  necrotic core and heterogeneous texture grow with hypoxia; enhancement grows with
  immune infiltration; EGFR-mutant tumours have lobulated margins. Each scanner site
  scales and offsets intensities and changes the noise (a batch effect on imaging);
- RNA-seq counts for ~2,000 genes, with gene modules loading on the factors and on the
  mutations, and sex-specific genes;
- protein abundances for ~200 genes that follow their transcripts, with missing values
  that are more frequent at low abundance (as in mass spectrometry);
- a MAF of driver, passenger and silent variants;
- clinical data (age, sex, stage, site, EGFR status, treatment response) and overall
  survival drawn from a proportional-hazards model of the factors, stage and age.

The planted truth (factors, subtypes, gene modules, marker features, hazard ratios,
site effects) is returned with the data so that tests can check that analyses find
what was planted, and nothing where nothing was planted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import ndimage

from .._compat import renamed

FACTORS = ("proliferation", "hypoxia", "immune")

SUBTYPES = {
    # subtype: factor means (proliferation, hypoxia, immune)
    "proliferative": (1.3, -0.6, -0.5),
    "hypoxic": (-0.3, 1.4, -0.6),
    "inflamed": (-0.8, -0.6, 1.3),
}
SUBTYPE_SD = 0.55

SITES = {
    # site: (intensity scale, intensity offset, noise SD)
    "site_A": (1.00, 0.0, 6.0),
    "site_B": (1.25, 25.0, 10.0),
    "site_C": (0.80, -10.0, 4.0),
}

MODULE_GENES = {
    "proliferation": [
        "MKI67",
        "TOP2A",
        "CCNB1",
        "CCNB2",
        "CDK1",
        "BUB1",
        "AURKA",
        "AURKB",
        "PLK1",
        "CENPF",
        "CDC20",
        "TPX2",
        "KIF11",
        "KIF2C",
        "MCM2",
        "MCM3",
        "MCM4",
        "MCM6",
        "PCNA",
        "RRM2",
        "TYMS",
        "FOXM1",
        "E2F1",
        "BIRC5",
        "CCNA2",
        "CCNE1",
        "MYBL2",
        "UBE2C",
        "ZWINT",
        "NUSAP1",
    ],
    "hypoxia": [
        "CA9",
        "VEGFA",
        "SLC2A1",
        "PGK1",
        "LDHA",
        "BNIP3",
        "ADM",
        "ANGPTL4",
        "NDRG1",
        "P4HA1",
        "ALDOA",
        "ENO1",
        "HK2",
        "PFKFB3",
        "LOX",
        "EGLN3",
        "ERO1A",
        "MXI1",
        "ANKRD37",
        "KDM3A",
        "DDIT4",
        "PDK1",
        "BHLHE40",
        "FAM162A",
        "INSIG2",
    ],
    "immune": [
        "CD8A",
        "CD8B",
        "GZMA",
        "GZMB",
        "PRF1",
        "IFNG",
        "CXCL9",
        "CXCL10",
        "CD3E",
        "CD3D",
        "CD2",
        "LCK",
        "CCL5",
        "NKG7",
        "GZMK",
        "HLA-DRA",
        "CD274",
        "PDCD1",
        "LAG3",
        "TIGIT",
        "CTLA4",
        "IDO1",
        "STAT1",
        "IRF1",
    ],
    "egfr_pathway": [
        "EGFR",
        "ERBB3",
        "PHLDA1",
        "EREG",
        "AREG",
        "ELF3",
        "TNS4",
        "LCN2",
        "EGR1",
        "FOSL1",
        "MYC",
        "CCND1",
    ],
    "tp53_targets": [
        "CDKN1A",
        "MDM2",
        "BAX",
        "FAS",
        "GADD45A",
        "SESN1",
        "RRM2B",
        "TP53I3",
        "ZMAT3",
        "TNFRSF10B",
    ],
    "kras_targets": ["DUSP6", "ETV4", "ETV5", "SPRY2", "SPRY4", "DUSP4", "ETV1", "SPRY1"],
}
SEX_GENES = {"female": ["XIST", "TSIX"], "male": ["RPS4Y1", "DDX3Y", "KDM5D", "UTY"]}
DRIVERS = {
    # gene: (frequency, effect description)
    "TP53": 0.40,
    "EGFR": 0.30,
    "KRAS": 0.20,
}
PASSENGERS = [
    "TTN",
    "MUC16",
    "CSMD3",
    "RYR2",
    "LRP1B",
    "USH2A",
    "ZFHX4",
    "SYNE1",
    "FLG",
    "PCLO",
    "XIRP2",
    "SPTA1",
    "NAV3",
    "COL11A1",
    "FAT4",
    "PKHD1L1",
    "DNAH5",
    "APOB",
    "CSMD1",
    "ADGRV1",
]

#: Hazard ratios per unit of each term of the survival model.
LOG_HAZARD = {"proliferation": 0.6, "hypoxia": 0.5, "immune": -0.4, "stage": 0.35, "age": 0.02}

#: Radiomic features built to follow a factor (sign of the relation), by construction of
#: the images: size follows proliferation, necrosis and texture follow hypoxia, tumour
#: enhancement follows immune infiltration.
MARKER_FEATURES = {
    "original_shape_VoxelVolume": ("proliferation", +1),
    "original_shape_MeshVolume": ("proliferation", +1),
    "original_shape_Maximum3DDiameter": ("proliferation", +1),
    "original_shape_SurfaceArea": ("proliferation", +1),
    "original_firstorder_Variance": ("hypoxia", +1),
    "original_firstorder_InterquartileRange": ("hypoxia", +1),
    "original_glcm_SumEntropy": ("hypoxia", +1),
    "original_glcm_Imc2": ("hypoxia", +1),
    "original_firstorder_Mean": ("immune", +1),
    "original_firstorder_Median": ("immune", +1),
}
#: Imaging effect of a mutation, by construction: EGFR-mutant tumours are lobulated.
MUTATION_MARKERS = {
    "EGFR": {
        "original_shape_Sphericity": -1,
        "original_shape_SurfaceVolumeRatio": +1,
    },
}


@dataclass
class DemoData:
    """Everything simulated for one demo cohort (in memory)."""

    patients: list[str]
    clinical: pd.DataFrame
    counts: pd.DataFrame  # genes x samples
    protein: pd.DataFrame  # proteins x samples
    maf: pd.DataFrame
    images: dict[str, tuple[np.ndarray, np.ndarray]]  # patient -> (image zyx, mask zyx)
    spacing: tuple[float, float, float]
    truth: dict = field(default_factory=dict)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def simulate_image(
    rng: np.random.Generator,
    factors: np.ndarray,
    egfr: bool,
    site: str,
    shape: tuple[int, int, int] = (28, 56, 56),
    spacing: tuple[float, float, float] = (1.0, 1.0, 2.0),
) -> tuple[np.ndarray, np.ndarray]:
    """One MR-like image and tumour mask (arrays in z, y, x order).

    ``spacing`` is (x, y, z) in mm as in SimpleITK.
    """
    proliferation, hypoxia, immune = factors
    nz, ny, nx = shape
    sx, sy, sz = spacing
    z, y, x = np.meshgrid(
        (np.arange(nz) - (nz - 1) / 2) * sz,
        (np.arange(ny) - (ny - 1) / 2) * sy,
        (np.arange(nx) - (nx - 1) / 2) * sx,
        indexing="ij",
    )
    centre = rng.normal(0, 2.0, size=3)
    points = np.stack([x - centre[0], y - centre[1], z - centre[2]], axis=-1)

    # an ellipsoid of random orientation; radius grows with proliferation
    radius = 8.0 * np.exp(0.16 * proliferation + rng.normal(0, 0.05))
    ratios = np.array([1.0, rng.uniform(0.75, 0.95), rng.uniform(0.6, 0.85)])
    ratios /= np.cbrt(ratios.prod())
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    local = points @ q / (radius * ratios)
    rho = np.linalg.norm(local, axis=-1)
    direction = local / np.maximum(rho, 1e-9)[..., None]

    # lobulated margin: EGFR-mutant tumours have deeper lobes
    amplitude = (0.22 if egfr else 0.05) + rng.uniform(0.0, 0.03)
    bumps = np.zeros_like(rho)
    for _ in range(6):
        v = rng.normal(size=3)
        v /= np.linalg.norm(v)
        frequency = rng.integers(3, 6)
        bumps += np.cos(frequency * np.arccos(np.clip(direction @ v, -1, 1)) + rng.uniform(0, 6.3))
    boundary = 1.0 + amplitude * bumps / np.sqrt(6)
    tumour = rho <= boundary

    # intensities: smooth tissue background, enhancing tumour, heterogeneous texture,
    # necrotic core growing with hypoxia
    background = 100 + 10 * ndimage.gaussian_filter(rng.normal(size=shape), 4) * 4
    texture = ndimage.gaussian_filter(rng.normal(size=shape), 1.0)
    texture /= texture.std()
    heterogeneity = 10 + 30 * _sigmoid(1.6 * hypoxia)
    viable = 230 + 30 * immune + heterogeneity * texture
    image = np.where(tumour, viable, background)
    core_fraction = 0.12 + 0.6 * _sigmoid(1.8 * hypoxia - 0.6)
    necrotic = rho <= core_fraction * boundary
    image = np.where(necrotic, 70 + 12 * texture, image)
    image = ndimage.gaussian_filter(image, 0.6)

    scale, offset, noise = SITES[site]
    image = scale * image + offset + rng.normal(0, noise, size=shape)
    return image.astype(np.float32), tumour.astype(np.uint8)


@renamed(seed="random_state")
def simulate(
    n_patients: int = 120,
    random_state: int = 0,
    n_genes: int = 2000,
    n_proteins: int = 200,
    with_images: bool = True,
) -> DemoData:
    """Simulate a demo cohort in memory. See the module docstring for the model.

    See Also
    --------
    radiogenomics.datasets.demo : the demo cohort as a MuData, with extracted features.
    radiogenomics.datasets.toy_cohort : a smaller random cohort, for quick examples.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> data = rg.datasets.simulate(n_patients=12, random_state=0, n_genes=200, n_proteins=20)
    >>> len(data.patients), data.patients[0]
    (12, 'RGD-02-0001')
    >>> data.counts.shape  # genes x samples; every patient has RNA here
    (200, 12)
    >>> list(data.clinical.columns)
    ['patient_id', 'age', 'sex', 'stage', 'site', 'os_months', 'os_event', 'vital_status',
     'egfr_mutant', 'response']
    >>> image, mask = data.images[data.patients[0]]
    >>> image.shape, str(image.dtype), int(mask.max()), data.spacing
    ((28, 56, 56), 'float32', 1, (1.0, 1.0, 2.0))
    >>> sorted(data.truth)
    ['factors', 'gene_modules', 'log_hazard', 'marker_features', 'model', 'mutation_markers',
     'site_effects']
    """
    if n_patients < 12:
        raise ValueError("the demo cohort needs at least 12 patients")
    # one generator, drawn from in this order: the data of a seed never change
    rng = np.random.default_rng(random_state)
    patients, site = _simulate_patients(rng, n_patients)
    subtype, factors, mutations = _simulate_biology(rng, n_patients)
    egfr = mutations[1]
    clinical, sex, (has_rna, has_protein, sequenced) = _simulate_clinical(
        rng, patients, site, factors, egfr
    )
    genes = _simulate_genes(rng, n_genes)
    counts, library, effects = _simulate_counts(rng, genes, factors, mutations, sex)
    samples = [f"{p}-01A" for p in patients]
    counts_df = pd.DataFrame(counts.T, index=genes[0], columns=samples).loc[:, has_rna]
    proteins, abundance, named = _simulate_protein(rng, genes, counts, library, n_proteins)
    protein_df = pd.DataFrame(abundance.T.round(4), index=proteins, columns=samples).loc[
        :, has_protein
    ]
    maf = _simulate_maf(rng, patients, sequenced, mutations, named)
    _add_variant_details(maf, random_state)

    # images
    spacing = (1.0, 1.0, 2.0)
    images = {}
    if with_images:
        for i, p in enumerate(patients):
            images[p] = simulate_image(rng, factors[i], bool(egfr[i]), site[i], spacing=spacing)
    truth = _truth(patients, subtype, factors, mutations, genes, effects)
    truth["model"] = {"subtype_sd": SUBTYPE_SD, "seed": random_state, "n_patients": n_patients}
    return DemoData(
        patients=patients,
        clinical=clinical,
        counts=counts_df,
        protein=protein_df,
        maf=maf,
        images=images,
        spacing=spacing,
        truth=truth,
    )


def _simulate_patients(rng: np.random.Generator, n_patients: int) -> tuple[list[str], np.ndarray]:
    """The scanner site of each patient and patient IDs that name it."""
    patients = []
    site_names = list(SITES)
    site = rng.choice(site_names, size=n_patients, p=[0.45, 0.3, 0.25])
    for i in range(n_patients):
        patients.append(f"RGD-{site_names.index(site[i]) + 1:02d}-{i + 1:04d}")
    return patients, site


def _simulate_biology(rng: np.random.Generator, n_patients: int):
    """Subtypes, hidden factors and driver mutations (TP53, EGFR, KRAS) of each patient."""
    subtype_names = list(SUBTYPES)
    subtype = rng.choice(subtype_names, size=n_patients, p=[0.36, 0.32, 0.32])
    means = np.array([SUBTYPES[s] for s in subtype])
    factors = means + rng.normal(0, SUBTYPE_SD, size=(n_patients, 3))

    # driver mutations; TP53 raises proliferation
    tp53 = rng.random(n_patients) < DRIVERS["TP53"]
    egfr = rng.random(n_patients) < DRIVERS["EGFR"]
    kras = (rng.random(n_patients) < DRIVERS["KRAS"] * 1.4) & ~egfr  # mutually exclusive
    factors[:, 0] += 0.5 * tp53
    return subtype, factors, (tp53, egfr, kras)


def _simulate_clinical(
    rng: np.random.Generator,
    patients: list[str],
    site: np.ndarray,
    factors: np.ndarray,
    egfr: np.ndarray,
) -> tuple[pd.DataFrame, np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The clinical table, the sex of each patient, and who has RNA, protein and sequencing."""
    n_patients = len(patients)
    age = np.clip(rng.normal(63, 10, n_patients), 30, 90).round(0)
    sex = rng.choice(["female", "male"], size=n_patients)
    stage_num = np.clip(
        np.round(2.2 + 0.55 * factors[:, 0] + rng.normal(0, 0.75, n_patients)), 1, 4
    )
    stage = np.array(["I", "II", "III", "IV"])[stage_num.astype(int) - 1]
    os_months, os_event = _simulate_survival(rng, factors, stage_num, age)
    response_logit = -0.3 + 1.2 * factors[:, 2] - 0.4 * (stage_num - 2)
    response = np.where(
        rng.random(n_patients) < _sigmoid(response_logit), "responder", "non-responder"
    )

    # which patients have which assay
    has_rna = rng.random(n_patients) > 0.03
    has_protein = rng.random(n_patients) > 0.10
    sequenced = rng.random(n_patients) > 0.05
    for flags in (has_rna, has_protein, sequenced):
        flags[:6] = True  # the first patients have everything (examples in the docs)

    clinical = pd.DataFrame(
        {
            "patient_id": patients,
            "age": age,
            "sex": sex,
            "stage": stage,
            "site": site,
            "os_months": os_months,
            "os_event": os_event,
            "vital_status": np.where(os_event == 1, "Dead", "Alive"),
            "egfr_mutant": np.where(sequenced, egfr.astype(float), np.nan),
            "response": response,
        }
    )
    return clinical, sex, (has_rna, has_protein, sequenced)


def _simulate_survival(
    rng: np.random.Generator, factors: np.ndarray, stage_num: np.ndarray, age: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Overall survival (months, event) from the proportional-hazards model, censored."""
    n_patients = len(age)
    linear = (
        LOG_HAZARD["proliferation"] * factors[:, 0]
        + LOG_HAZARD["hypoxia"] * factors[:, 1]
        + LOG_HAZARD["immune"] * factors[:, 2]
        + LOG_HAZARD["stage"] * (stage_num - 2)
        + LOG_HAZARD["age"] * (age - 63)
    )
    # Weibull baseline (shape 1.3), median about 30 months at linear = 0
    shape_k, scale_l = 1.3, 40.0
    event_time = scale_l * (-np.log(rng.random(n_patients)) / np.exp(linear)) ** (1 / shape_k)
    censor_time = np.minimum(rng.uniform(30, 90, n_patients), rng.exponential(200, n_patients))
    os_months = np.round(np.minimum(event_time, censor_time), 2)
    os_event = (event_time <= censor_time).astype(int)
    return os_months, os_event


def _simulate_genes(
    rng: np.random.Generator, n_genes: int
) -> tuple[list[str], np.ndarray, list[str]]:
    """Gene names, the module of each gene, and the unnamed filler genes."""
    gene_names, modules = [], []
    for module, genes in MODULE_GENES.items():
        gene_names += genes
        modules += [module] * len(genes)
    for sex_name, genes in SEX_GENES.items():
        gene_names += genes
        modules += [f"sex_{sex_name}"] * len(genes)
    n_filler = max(n_genes - len(gene_names), 0)
    filler = [f"G{i:05d}" for i in range(1, n_filler + 1)]
    # some filler genes join the factor modules (unnamed members, up or down)
    filler_modules = rng.choice(
        ["proliferation", "hypoxia", "immune", "none"], size=n_filler, p=[0.06, 0.06, 0.06, 0.82]
    )
    gene_names += filler
    modules += list(filler_modules)
    return gene_names, np.array(modules), filler


def _simulate_counts(rng: np.random.Generator, genes, factors, mutations, sex: np.ndarray):
    """RNA-seq counts (patients x genes), library sizes, and the planted gene effects."""
    gene_names, modules, _ = genes
    n_patients, n_g = len(factors), len(gene_names)
    baseline = rng.normal(4.0, 1.6, n_g)
    loadings = np.zeros((n_g, 3))
    named_genes = set(sum(MODULE_GENES.values(), []))
    for k, factor in enumerate(FACTORS):
        members = modules == factor
        signs = np.where(rng.random(n_g) < 0.35, -1.0, 1.0)
        signs[[g in named_genes for g in gene_names]] = 1.0
        loadings[members, k] = (signs * rng.uniform(0.5, 1.0, n_g))[members]
    mutation_effect = np.zeros((n_g, 3))  # TP53, EGFR, KRAS
    mutation_effect[modules == "tp53_targets", 0] = -rng.uniform(
        0.8, 1.4, (modules == "tp53_targets").sum()
    )
    mutation_effect[modules == "egfr_pathway", 1] = rng.uniform(
        0.8, 1.5, (modules == "egfr_pathway").sum()
    )
    mutation_effect[modules == "kras_targets", 2] = rng.uniform(
        0.8, 1.5, (modules == "kras_targets").sum()
    )
    is_female = sex == "female"
    sex_effect = np.zeros((n_patients, n_g))
    sex_effect[np.ix_(is_female, modules == "sex_female")] = 4.0
    sex_effect[np.ix_(~is_female, modules == "sex_male")] = 4.0
    sex_effect[np.ix_(~is_female, modules == "sex_female")] = -3.0
    sex_effect[np.ix_(is_female, modules == "sex_male")] = -3.0
    eta = (
        baseline[None, :]
        + factors @ loadings.T
        + np.column_stack(mutations).astype(float) @ mutation_effect.T
        + sex_effect
        + rng.normal(0, 0.35, (n_patients, n_g))
    )
    library = rng.lognormal(np.log(20.0), 0.25, n_patients)  # in millions of reads
    mean = np.exp(eta) * library[:, None] * 2.0
    dispersion = 0.08
    counts = rng.poisson(rng.gamma(1 / dispersion, mean * dispersion))
    return counts, library, (loadings, mutation_effect)


def _simulate_protein(
    rng: np.random.Generator, genes, counts: np.ndarray, library: np.ndarray, n_proteins: int
) -> tuple[list[str], np.ndarray, list[str]]:
    """Proteins, their abundances (patients x proteins) and the named genes."""
    gene_names, _, filler = genes
    # proteins: named module genes first, then random filler genes
    unnamed = set(filler) | set(sum(SEX_GENES.values(), []))
    named = [g for g in gene_names if g not in unnamed]
    chosen = named[: min(len(named), n_proteins)]
    extra = [g for g in rng.permutation(filler)[: max(n_proteins - len(chosen), 0)]]
    proteins = chosen + list(extra)
    index = [gene_names.index(g) for g in proteins]
    log_expr = np.log2(counts[:, index] / library[:, None] + 1)
    z = (log_expr - log_expr.mean(0)) / (log_expr.std(0) + 1e-9)
    abundance = 0.75 * z + rng.normal(0, 0.6, z.shape)
    abundance = abundance - np.median(abundance, axis=0)  # log2 ratios to a reference
    protein_rate = rng.beta(1.2, 6.0, len(proteins))  # per-protein missingness propensity
    p_missing = _sigmoid(np.log(protein_rate / (1 - protein_rate))[None, :] - 1.5 * z)
    abundance = np.where(rng.random(z.shape) < p_missing, np.nan, abundance)
    return proteins, abundance, named


def _simulate_maf(
    rng: np.random.Generator,
    patients: list[str],
    sequenced: np.ndarray,
    mutations,
    named: list[str],
) -> pd.DataFrame:
    """The MAF of the sequenced patients: drivers, passengers and silent variants."""
    tp53, egfr, kras = mutations
    rows = []
    maf_classes = ["Missense_Mutation"] * 6 + [
        "Nonsense_Mutation",
        "Frame_Shift_Del",
        "Splice_Site",
        "In_Frame_Del",
    ]
    for i, p in enumerate(patients):
        if not sequenced[i]:
            continue
        barcode = f"{p}-01A-11D"
        for gene, flag in (("TP53", tp53[i]), ("EGFR", egfr[i]), ("KRAS", kras[i])):
            if flag:
                rows.append((gene, barcode, str(rng.choice(maf_classes))))
        for gene in PASSENGERS:
            if rng.random() < 0.06:
                rows.append((gene, barcode, str(rng.choice(maf_classes))))
        for _ in range(rng.integers(2, 8)):
            gene = str(rng.choice(PASSENGERS + named[:40]))
            rows.append((gene, barcode, str(rng.choice(["Silent", "Intron", "3'UTR"]))))
    maf = pd.DataFrame(
        rows, columns=["Hugo_Symbol", "Tumor_Sample_Barcode", "Variant_Classification"]
    )
    maf.insert(1, "Variant_Type", "SNP")
    maf["NCBI_Build"] = "GRCh38"
    return maf


def _add_variant_details(maf: pd.DataFrame, seed: int) -> None:
    """Protein changes and read counts of the MAF's variants, in place."""
    # protein changes and read counts from a generator of their own (the rest of the
    # demo stays as it was)
    variant_rng = np.random.default_rng([seed, 16])
    amino = list("ACDEFGHIKLMNPQRSTVWY")
    position = variant_rng.integers(10, 900, len(maf))
    before = variant_rng.choice(amino, len(maf))
    after = variant_rng.choice(amino, len(maf))
    suffix = {
        "Nonsense_Mutation": "*",
        "Frame_Shift_Del": "fs",
        "Splice_Site": "",
        "In_Frame_Del": "del",
    }
    maf["HGVSp_Short"] = [
        ""
        if c in ("Intron", "3'UTR", "Splice_Site")
        else f"p.{b}{n}{b if c == 'Silent' else suffix.get(c, a)}"
        for b, n, a, c in zip(before, position, after, maf["Variant_Classification"])
    ]
    depth = variant_rng.integers(40, 400, len(maf))
    maf["t_alt_count"] = np.maximum(1, np.round(depth * variant_rng.beta(4, 8, len(maf))))
    maf["t_ref_count"] = depth - maf["t_alt_count"]


def _truth(patients, subtype, factors, mutations, genes, effects) -> dict:
    """The planted truth: factors and mutations, gene modules, markers, hazards, sites."""
    tp53, egfr, kras = mutations
    gene_names, modules, _ = genes
    loadings, mutation_effect = effects
    return {
        "factors": pd.DataFrame(factors, index=patients, columns=list(FACTORS)).assign(
            subtype=pd.Categorical(subtype, categories=list(SUBTYPES)),
            tp53_mutant=tp53.astype(int),
            egfr_mutant=egfr.astype(int),
            kras_mutant=kras.astype(int),
        ),
        "gene_modules": pd.DataFrame(
            {
                "module": modules,
                "proliferation_loading": loadings[:, 0],
                "hypoxia_loading": loadings[:, 1],
                "immune_loading": loadings[:, 2],
                "tp53_effect": mutation_effect[:, 0],
                "egfr_effect": mutation_effect[:, 1],
                "kras_effect": mutation_effect[:, 2],
            },
            index=gene_names,
        ),
        "marker_features": pd.DataFrame(
            [(f, fac, s) for f, (fac, s) in MARKER_FEATURES.items()],
            columns=["feature", "factor", "sign"],
        ),
        "mutation_markers": pd.DataFrame(
            [(g, f, s) for g, d in MUTATION_MARKERS.items() for f, s in d.items()],
            columns=["gene", "feature", "sign"],
        ),
        "log_hazard": dict(LOG_HAZARD),
        "site_effects": pd.DataFrame(SITES, index=["scale", "offset", "noise_sd"]).T,
    }
