#!/usr/bin/env python3
"""Generate the binary parts of ragd's integration-test corpus.

Writes, from text embedded below (original, CC0 -- see tests/corpus/LICENSE.md):

  tests/corpus/docs/*.pdf       hand-written PDF 1.4, Helvetica (Type1, WinAnsiEncoding), multi-page
  tests/corpus/docs/*.docx      minimal OOXML WordprocessingML packages
  tests/corpus-bad/*        files that must fail to ingest, each for a different reason

The .md, .txt and .html documents of the corpus are plain files kept in the repository; this
script does not touch them.

Standard library only (Python 3.11+). Deterministic: no timestamps, no randomness without a fixed
seed, fixed zip entry dates, so running it twice produces byte-identical files (idempotent).

Usage:
  python3 scripts/make_corpus.py           # (re)write the files, report which changed
  python3 scripts/make_corpus.py --check   # write nothing; exit 1 if any file is missing/stale
"""

from __future__ import annotations

import argparse
import random
import sys
import textwrap
import zipfile
import zlib
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus" / "docs"
BAD = ROOT / "tests" / "corpus-bad"

# --------------------------------------------------------------------------------------------
# Document text. Each document is a list of pages (PDF) or one list (DOCX) of blocks:
#   ("h1", text)  document title      ("h2", text)  section heading      ("p", text)  paragraph
# In DOCX paragraphs, a leading "**Lead.**" becomes a bold run followed by a normal run.
# --------------------------------------------------------------------------------------------

PRINTING_PRESS = {
    "title": "The History of the Printing Press",
    "pages": [
        [
            ("h1", "The History of the Printing Press"),
            ("p", "Few inventions changed the world as quickly as printing with movable type. "
                  "Within fifty years of its appearance in Europe, books had become cheap enough "
                  "for merchants and students, and the spread of ideas had sped up in a way that "
                  "historians still argue about today."),
            ("h2", "Printing before Gutenberg"),
            ("p", "Printing itself is far older than the European press. In China, texts were "
                  "printed from carved wooden blocks by the seventh century, and the Diamond Sutra "
                  "found at Dunhuang carries a date equivalent to the year 868, making it the "
                  "oldest dated printed book that survives. Around 1040 a commoner named Bi Sheng "
                  "made movable type from baked clay, as the scholar Shen Kuo recorded in his Dream "
                  "Pool Essays. Korean printers later cast type in bronze: the Buddhist anthology "
                  "known as the Jikji, printed in 1377, is the oldest surviving book printed with "
                  "movable metal type. Because Chinese uses thousands of characters, however, "
                  "woodblocks stayed more practical there than movable type."),
            ("h2", "Johannes Gutenberg of Mainz"),
            ("p", "Johannes Gutenberg was born around 1400 in Mainz and trained as a goldsmith. In "
                  "the late 1430s, while living in Strasbourg, he was already involved in a secret "
                  "partnership to mass-produce polished metal mirrors for pilgrims, and by about "
                  "1450 he had a working print shop back in Mainz. His achievement was not one "
                  "invention but a complete system. A hand mould let a caster produce thousands of "
                  "identical letters quickly; the type was cast from an alloy of lead, tin and "
                  "antimony that melted at a low temperature, filled the mould sharply and cooled "
                  "without shrinking; an oil-based ink, closer to a varnish than to the watery inks "
                  "of scribes, stuck to metal; and a wooden screw press, adapted from the presses "
                  "used for wine and olive oil, pressed paper evenly against the inked type."),
        ],
        [
            ("h2", "The Gutenberg Bible"),
            ("p", "Gutenberg's most famous work is the Latin Bible completed in Mainz around "
                  "1454 to 1455. Most pages have two columns of 42 lines, which is why it is also "
                  "called the 42-line Bible. About 180 copies were printed, roughly three quarters "
                  "on paper and the rest on vellum, and 49 copies or substantial parts of copies "
                  "survive today. The future pope Pius II saw sheets of it at Frankfurt in 1454 and "
                  "wrote that the script was so clean that it could be read without glasses."),
            ("p", "The project was expensive. Gutenberg had borrowed large sums from the Mainz "
                  "financier Johann Fust, and in 1455 Fust sued him for repayment. The court ruled "
                  "for Fust, who took over much of the equipment and continued printing with "
                  "Gutenberg's former assistant Peter Schoeffer. Their Mainz Psalter of 1457 was the "
                  "first book to name its printers and give a printing date, and it introduced "
                  "colour printing in red and blue initials."),
            ("h2", "A technology that spread"),
            ("p", "When Mainz was sacked in 1462 during a feud between two rival archbishops, "
                  "printers trained there scattered across Europe and took the craft with them. "
                  "Presses appeared in Italy in 1465, in Paris in 1470 and in Spain around 1472. By "
                  "1500 printing shops were working in more than 250 towns, and they had produced "
                  "perhaps 30,000 editions and around twenty million copies. Books printed before "
                  "1501 are called incunabula, from the Latin word for cradle, because they come "
                  "from the infancy of printing."),
            ("p", "Venice became the capital of the new trade. Its wealth, its paper supply and "
                  "its shipping routes attracted printers from all over Europe, and by the end of "
                  "the fifteenth century the city had about 150 presses, more than any other place "
                  "in the world. The Frenchman Nicolas Jenson, who had worked at the royal mint in "
                  "Tours, cut a roman typeface in Venice in 1470 whose clear, even letters were "
                  "modelled on the handwriting of Italian humanists and are still admired by type "
                  "designers."),
        ],
        [
            ("h2", "Aldus Manutius and the pocket book"),
            ("p", "The Venetian scholar-printer Aldus Manutius founded the Aldine Press in 1494 to "
                  "publish the Greek classics in accurate editions. In 1501 he issued a Virgil in a "
                  "small octavo format, light enough to carry in a saddlebag or a coat, and set in a "
                  "new slanted typeface cut by the punchcutter Francesco Griffo of Bologna. That "
                  "typeface, imitating the cursive chancery hand, is the ancestor of every italic "
                  "font in use today; in Italy it was long called \"aldino\". Because italic letters "
                  "are narrow, more words fitted on a page, which kept the little books cheap. The "
                  "Aldine dolphin-and-anchor mark became one of the most copied printer's devices."),
            ("h2", "England and the Reformation"),
            ("p", "William Caxton, an English merchant who had learned printing in Cologne and "
                  "Bruges, set up the first press in England at Westminster in 1476. Among its "
                  "first books was Geoffrey Chaucer's Canterbury Tales. Caxton printed mostly in "
                  "English rather than Latin, and the spellings chosen by his shop helped fix the "
                  "written form of the language."),
            ("p", "Printing also made the Protestant Reformation possible on a scale earlier "
                  "reformers never reached. After Martin Luther posted his Ninety-five Theses in "
                  "1517, copies were reprinted across Germany within weeks. Luther wrote short, "
                  "cheap pamphlets in German, and between 1518 and 1525 his writings made up about "
                  "a third of all books sold in German-speaking lands. His German translation of "
                  "the New Testament (1522) sold thousands of copies in a few months."),
            ("h2", "Steam, metal and machines"),
            ("p", "The wooden hand press changed little for 350 years; a skilled crew could pull "
                  "about 250 sheets an hour. In 1814 The Times of London was printed on Friedrich "
                  "Koenig's steam-powered cylinder press at more than 1,000 sheets an hour. "
                  "Typesetting stayed manual until Ottmar Mergenthaler's Linotype machine of 1886, "
                  "which cast a whole line of type from a keyboard, and offset lithography and "
                  "later phototypesetting eventually replaced metal type altogether."),
        ],
    ],
}

ROMAN_AQUEDUCTS = {
    "title": "Roman Aqueducts",
    "pages": [
        [
            ("h1", "Roman Aqueducts"),
            ("p", "The aqueducts of ancient Rome were channels that carried fresh water, by "
                  "gravity alone, from springs and rivers in the hills to cities, baths, fountains "
                  "and private houses. They are among the most impressive achievements of Roman "
                  "engineering, and several of them still stand \u2013 or even still work \u2013 "
                  "two thousand years later."),
            ("h2", "The first aqueducts of Rome"),
            ("p", "The first aqueduct of the city, the Aqua Appia, was built in 312 BC by the "
                  "censor Appius Claudius Caecus, the same magistrate who began the Appian Way. It "
                  "was about 16.4 kilometres long and ran almost entirely underground, which "
                  "protected it from enemies and kept the water cool. The Aqua Marcia, built from "
                  "144 to 140 BC by the praetor Quintus Marcius Rex, was about 91 kilometres long "
                  "and brought water so cold and clear that it was the most praised in Rome. By "
                  "the early third century AD eleven aqueducts fed the city, the last being the "
                  "Aqua Alexandrina of 226 AD."),
            ("h2", "How they were built"),
            ("p", "Roman engineers surveyed the route with instruments such as the chorobates, a "
                  "long levelling table with a water groove, and the groma for straight lines. The "
                  "water flowed in a covered channel called the specus, built of stone or Roman "
                  "concrete (opus caementicium) and lined with a waterproof plaster of lime and "
                  "crushed pottery, the opus signinum. The whole art lay in keeping a gentle, "
                  "steady slope over long distances: too steep and the water would scour the "
                  "channel, too flat and it would stagnate. Most of the length of an aqueduct ran "
                  "underground or along the contours of hillsides; the famous arcades were built "
                  "only where a valley had to be crossed."),
        ],
        [
            ("h2", "Frontinus, water commissioner"),
            ("p", "Much of what we know about the water system of Rome comes from Sextus Julius "
                  "Frontinus, a former general and governor of Britain who was appointed curator "
                  "aquarum, the official in charge of the aqueducts, in 97 AD. He wrote a report "
                  "in two books, De aquis urbis Romae, describing each aqueduct, its source, length "
                  "and capacity. Frontinus complained bitterly about fraud: water men who sold "
                  "water to private customers, landowners who tapped the channels illegally, and "
                  "pipes larger than their permits allowed. Modern estimates of the total daily "
                  "supply of imperial Rome range from about 500,000 to over a million cubic metres."),
            ("h2", "The Pont du Gard"),
            ("p", "The best known Roman aqueduct bridge is the Pont du Gard in southern France, "
                  "built in the first century AD to carry water across the river Gardon to the "
                  "city of Nemausus, today N\u00eemes. It has three tiers of arches and stands "
                  "about 49 metres high, the tallest of all Roman aqueduct bridges. The whole "
                  "aqueduct of N\u00eemes was about 50 kilometres long but dropped only about 12.6 "
                  "metres from source to city, an average gradient of roughly 25 centimetres per "
                  "kilometre. The stones of the bridge were laid without mortar."),
            ("h2", "Siphons, castella and lead pipes"),
            ("p", "Where a valley was too deep for a bridge, engineers used inverted siphons: "
                  "sealed pipes that ran down one side and up the other, pushed by the pressure of "
                  "the water behind them. The aqueducts that supplied Lugdunum, modern Lyon, used "
                  "several. In the city the water arrived at a distribution tank, the castellum "
                  "divisorium, which split it among public fountains, baths and paying private "
                  "users. Smaller pipes, fistulae, were often made of lead, in Latin plumbum, the "
                  "root of the English word plumbing. The aqueduct of Segovia in Spain, with 167 "
                  "granite arches rising up to about 28 metres, is still standing in the middle of "
                  "the city."),
            ("h2", "Decline"),
            ("p", "During the siege of Rome in 537 the Ostrogothic king Vitiges cut the "
                  "aqueducts, and most of them were never fully repaired. The Aqua Virgo of 19 BC "
                  "was restored by the popes and still feeds the Trevi Fountain today."),
        ],
    ],
}

PHOTOSYNTHESIS = {
    "title": "Photosynthesis",
    "pages": [
        [
            ("h1", "Photosynthesis"),
            ("p", "Photosynthesis is the process by which plants, algae and cyanobacteria use the "
                  "energy of sunlight to build sugar from carbon dioxide and water, releasing "
                  "oxygen as a by-product. Almost every food chain on Earth, and nearly all of the "
                  "oxygen in the air, depends on it. The overall reaction is usually written as "
                  "6 CO2 + 6 H2O + light energy -> C6H12O6 + 6 O2."),
            ("h2", "Early experiments"),
            ("p", "In 1771 the English chemist Joseph Priestley found that a sprig of mint could "
                  "restore air in which a candle had burned out, so that a mouse could breathe it "
                  "again. In 1779 the Dutch physician Jan Ingenhousz showed that plants do this "
                  "only in light, and only in their green parts. Much later, in 1941, Samuel Ruben "
                  "and Martin Kamen used the heavy isotope oxygen-18 to prove that the oxygen "
                  "released comes from water, not from carbon dioxide."),
            ("h2", "Chloroplasts and chlorophyll"),
            ("p", "In plants, photosynthesis takes place in chloroplasts, organelles descended "
                  "from ancient cyanobacteria. Inside them, stacks of flattened membrane sacs called "
                  "thylakoids carry the pigments; the fluid around the stacks is the stroma. The "
                  "main pigment, chlorophyll a, absorbs blue light around 430 nanometres and red "
                  "light around 662 nanometres and reflects green, which is why leaves look green."),
            ("h2", "The light-dependent reactions"),
            ("p", "The first stage happens in the thylakoid membranes. Light absorbed by "
                  "photosystem II, whose reaction centre is called P680, drives electrons out of "
                  "chlorophyll; to replace them, the oxygen-evolving complex splits water into "
                  "protons, electrons and oxygen gas. The electrons travel along an electron "
                  "transport chain to photosystem I (P700), where a second photon boosts them "
                  "again so that they can reduce NADP+ to NADPH. On the way, protons are pumped "
                  "into the thylakoid space, and their flow back through the enzyme ATP synthase "
                  "makes ATP. Light energy is thus stored as ATP and NADPH."),
        ],
        [
            ("h2", "The Calvin cycle"),
            ("p", "The second stage, which does not need light directly, takes place in the stroma "
                  "and uses the ATP and NADPH to fix carbon. It is named after Melvin Calvin, who "
                  "worked it out at Berkeley with Andrew Benson and James Bassham by feeding "
                  "radioactive carbon-14 to the green alga Chlorella and stopping the reactions "
                  "after a few seconds; Calvin received the Nobel Prize in Chemistry in 1961. The "
                  "key step is catalysed by the enzyme RuBisCO, which attaches a molecule of CO2 to "
                  "the five-carbon sugar ribulose-1,5-bisphosphate, giving two molecules of "
                  "3-phosphoglycerate. To export one three-carbon sugar, G3P, the cycle must turn "
                  "three times and spend 9 ATP and 6 NADPH."),
            ("h2", "RuBisCO and photorespiration"),
            ("p", "RuBisCO is probably the most abundant protein on Earth, and plants need so much "
                  "of it because it is remarkably slow, fixing only about three molecules of CO2 "
                  "per second. Worse, it cannot fully tell CO2 from O2. When it grabs oxygen "
                  "instead, the plant must spend energy in a salvage pathway called "
                  "photorespiration, which releases previously fixed carbon. On hot, dry days, "
                  "when leaves close their stomata and oxygen builds up inside, photorespiration can "
                  "waste a quarter or more of the carbon that was fixed."),
            ("h2", "C4 and CAM plants"),
            ("p", "Some plants have evolved ways to concentrate CO2 around RuBisCO. C4 plants such "
                  "as maize, sugarcane and sorghum first capture CO2 in mesophyll cells as a "
                  "four-carbon acid and pump it into a ring of bundle-sheath cells, the Kranz "
                  "anatomy, where the Calvin cycle runs. CAM plants such as pineapple, agave and "
                  "most cacti separate the steps in time instead: they open their stomata at night "
                  "to take in CO2 and store it as malic acid, then keep the stomata closed during "
                  "the hot day to save water."),
            ("h2", "How efficient is it?"),
            ("p", "The theoretical maximum efficiency of photosynthesis, from sunlight to the "
                  "energy stored in biomass, is about 11 percent for C3 plants and a little higher "
                  "for C4 plants. In real fields most crops convert only 1 to 2 percent of the "
                  "solar energy that falls on them over a growing season, and sugarcane, one of the "
                  "best, reaches about 7 to 8 percent at its peak."),
        ],
    ],
}

JAZZ = {
    "title": "Jazz Improvisation",
    "blocks": [
        ("h1", "Jazz Improvisation"),
        ("p", "Improvisation, inventing melody in real time over a repeating harmonic structure, "
              "is the heart of jazz. A typical performance states the tune, called the head, then "
              "each soloist plays one or more choruses over the same chord changes, and the band "
              "returns to the head at the end."),
        ("h2", "Forms and changes"),
        ("p", "Most jazz standards use a small number of forms. The twelve-bar blues, built on "
              "the I, IV and V chords, is the most common; the 32-bar AABA song form comes from "
              "Broadway and Tin Pan Alley. The chord progression of George Gershwin's \u201cI Got "
              "Rhythm\u201d (1930) is so widely reused that musicians simply call it rhythm "
              "changes. The most important building block of all is the ii\u2013V\u2013I "
              "progression, for example Dm7, G7, Cmaj7 in C major, which appears in almost every "
              "standard."),
        ("h2", "Chord tones and guide tones"),
        ("p", "**Target notes.** Strong solos land on chord tones at important moments, "
              "especially on the downbeats. The thirds and sevenths of each chord are called "
              "guide tones because they define whether the chord is major, minor or dominant. In "
              "a ii\u2013V\u2013I they move smoothly by half step or common tone: the seventh of "
              "Dm7, C, falls to B, the third of G7, while the third of Dm7, F, stays as the "
              "seventh of G7. Linking guide tones gives a solo a sense of direction even with "
              "very few notes."),
        ("p", "**Approach notes.** Bebop players decorate target notes with enclosures, "
              "approaching them from a half step below and a scale step above, and add a "
              "chromatic passing note to the dominant scale so that chord tones fall on the "
              "beat. Charlie Parker and Dizzy Gillespie developed this language in New York in "
              "the mid-1940s."),
        ("h2", "Modal jazz"),
        ("p", "In 1959 Miles Davis recorded Kind of Blue, the best-selling jazz album of all "
              "time, with John Coltrane, Cannonball Adderley and Bill Evans. Instead of fast "
              "chord changes, tunes such as \u201cSo What\u201d stay on one mode for many bars: "
              "sixteen bars of D Dorian, eight of E-flat Dorian, and eight more of D Dorian. "
              "With fewer chords, soloists had to build interest through melody, rhythm and "
              "space rather than by running changes."),
        ("h2", "Coltrane changes"),
        ("p", "A few months later Coltrane recorded \u201cGiant Steps\u201d, released in 1960. "
              "Its harmony moves between three key centres a major third apart, B, G and E-flat, "
              "at a fast tempo of about 290 beats per minute, and it became a rite of passage for "
              "improvisers. The pianist Tommy Flanagan, who had to solo on it at the session "
              "without having rehearsed the changes, struggled audibly."),
        ("h2", "Rhythm and conversation"),
        ("p", "Swing eighth notes are played long-short rather than even, and accents on the "
              "off-beats drive the music forward. Improvisation is also a conversation: soloists "
              "answer each other's phrases in call and response, and in trading fours the "
              "soloists and the drummer alternate four-bar solos. Louis Armstrong's Hot Five and "
              "Hot Seven recordings of 1925 to 1928 established the soloist as the star of "
              "jazz."),
        ("h2", "How to practise"),
        ("p", "Teachers agree on the method: learn tunes by ear, sing before you play, and "
              "transcribe solos note for note from recordings, because jazz is a language learned "
              "by imitation before invention. Play along with backing tracks such as Jamey "
              "Aebersold's play-along records, practise patterns through all twelve keys, and "
              "record yourself to hear what you really play."),
    ],
}

ORIGAMI = {
    "title": "Origami: The Art and Mathematics of Paper Folding",
    "blocks": [
        ("h1", "Origami: The Art and Mathematics of Paper Folding"),
        ("p", "Origami is the Japanese art of folding a sheet of paper into a figure without "
              "cutting or gluing it. The word joins oru, to fold, and kami, paper. Standard "
              "origami paper, itself also called kami, is a thin square of 15 by 15 centimetres, "
              "coloured on one side and white on the other."),
        ("h2", "History"),
        ("p", "Paper reached Japan from China through Korea around the year 610, and for "
              "centuries it was too expensive for play. Folded paper was first used in "
              "ceremonies, such as the noshi tokens attached to gifts. The oldest known book of "
              "recreational folding, Senbazuru Orikata, published in Kyoto in 1797, shows how to "
              "fold connected paper cranes from a single sheet. In Europe, the kindergarten "
              "pioneer Friedrich Fr\u00f6bel used paper folding to teach geometry in the "
              "nineteenth century."),
        ("h2", "Akira Yoshizawa and the notation"),
        ("p", "Modern creative origami owes most to Akira Yoshizawa (1911\u20132005), who "
              "designed tens of thousands of models and developed wet-folding, in which thick "
              "paper is dampened so that it can be sculpted into rounded, lifelike forms. In "
              "1954 he published a system of diagrams that Samuel Randlett and Robert Harbin "
              "later adopted in the West. In the Yoshizawa\u2013Randlett system a valley fold, "
              "which forms a V when seen from the side, is drawn as a dashed line, and a mountain "
              "fold as a line of dashes and dots. Diagrams in this notation let anyone in any "
              "country fold a model without a shared language."),
        ("h2", "The crane"),
        ("p", "The crane, orizuru, is the most famous traditional model. A Japanese legend says "
              "that whoever folds a thousand cranes, senbazuru, will be granted a wish. Sadako "
              "Sasaki, a girl from Hiroshima who developed leukaemia ten years after the atomic "
              "bombing, folded cranes in hospital until her death in 1955; her story made the "
              "paper crane a worldwide symbol of peace, and strings of cranes are still left at "
              "her statue in the Hiroshima Peace Memorial Park."),
        ("h2", "Mathematics of folding"),
        ("p", "**Axioms.** In 1991 Humiaki Huzita listed the basic ways to create a single new "
              "crease by lining up points and lines, and Koshiro Hatori later added a seventh; "
              "together they are known as the Huzita\u2013Hatori axioms. Because one of these "
              "folds solves cubic equations, folding can do things that a straightedge and "
              "compass cannot, such as trisecting any angle or doubling the cube."),
        ("p", "**Computational design.** The physicist Robert J. Lang wrote the program "
              "TreeMaker, which computes a crease pattern for a model with any number of legs, "
              "antennae and wings by treating it as a stick-figure tree and packing circles on "
              "the square. Such methods produced the hyper-realistic insects of the 1990s origami "
              "\u201cbug wars\u201d."),
        ("h2", "Origami in engineering"),
        ("p", "The Miura fold, invented by the Japanese astrophysicist Koryo Miura, folds a sheet "
              "into a tessellation of parallelograms that opens and closes in one motion by "
              "pulling two opposite corners. It was used for a solar array on the Space Flyer "
              "Unit satellite launched in 1995. Engineers have since borrowed origami for stent "
              "grafts that unfold inside blood vessels, airbags, and folding telescope mirrors."),
    ],
}

CICLO_AGUA = {
    "title": "O Ciclo da Água",
    "blocks": [
        ("h1", "O Ciclo da Água"),
        ("p", "O ciclo da água, ou ciclo hidrológico, é o movimento contínuo da água entre os "
              "oceanos, a atmosfera, os continentes e os seres vivos. Ele é movido pela energia "
              "do Sol e pela força da gravidade, e não tem começo nem fim: a mesma água circula "
              "pelo planeta há bilhões de anos."),
        ("h2", "Onde está a água da Terra"),
        ("p", "Cerca de 97 % da água do planeta é salgada e está nos oceanos. Só uns 2,5 % são "
              "de água doce, e a maior parte dela não está disponível: aproximadamente 69 % da "
              "água doce fica congelada em geleiras e calotas polares, sobretudo na Antártida e "
              "na Groenlândia, e cerca de 30 % está no subsolo. Rios e lagos guardam menos de "
              "1 % da água doce do mundo."),
        ("h2", "Evaporação e transpiração"),
        ("p", "**Evaporação.** O calor do Sol transforma a água líquida em vapor. Os oceanos "
              "respondem por cerca de 86 % de toda a evaporação do planeta. As plantas também "
              "devolvem água ao ar pelos estômatos das folhas, num processo chamado "
              "transpiração; somadas, evaporação e transpiração recebem o nome de "
              "evapotranspiração. Quando o gelo passa direto para vapor, sem derreter, o "
              "fenômeno se chama sublimação."),
        ("h2", "Condensação e precipitação"),
        ("p", "**Condensação.** Ao subir, o ar úmido se expande e esfria. Quando chega ao ponto "
              "de orvalho, o vapor se condensa em gotículas minúsculas em volta de partículas de "
              "poeira, sal marinho ou fumaça, os chamados núcleos de condensação, e formam-se as "
              "nuvens. Uma molécula de água fica em média apenas nove ou dez dias na atmosfera "
              "antes de cair de novo."),
        ("p", "**Precipitação.** Quando as gotículas se juntam e ficam pesadas demais, caem como "
              "chuva, neve ou granizo. Por ano caem sobre a Terra cerca de 500 mil quilômetros "
              "cúbicos de água, a maior parte de volta nos próprios oceanos."),
        ("h2", "Escoamento e infiltração"),
        ("p", "Parte da chuva que cai nos continentes escorre pela superfície até os rios, o "
              "escoamento superficial, e volta ao mar. Outra parte se infiltra no solo e "
              "alimenta os lençóis freáticos e os aquíferos, camadas de rocha porosa que "
              "armazenam água subterrânea. O Aquífero Guarani, um dos maiores reservatórios de "
              "água subterrânea do mundo, ocupa cerca de 1,2 milhão de quilômetros quadrados sob "
              "o Brasil, a Argentina, o Paraguai e o Uruguai; cerca de dois terços da sua área "
              "ficam em território brasileiro. A água subterrânea pode ficar armazenada por "
              "séculos ou milênios antes de voltar à superfície por nascentes."),
        ("h2", "O ciclo e as cidades"),
        ("p", "Asfalto e concreto impedem a infiltração, por isso nas cidades a chuva escorre "
              "depressa para bueiros e rios, o que aumenta o risco de enchentes e reduz a "
              "recarga dos aquíferos. Jardins de chuva, calçadas permeáveis e telhados verdes "
              "ajudam a devolver ao solo parte dessa água."),
    ],
}

PDFS = {
    "printing-press-history.pdf": (PRINTING_PRESS, False),
    "roman-aqueducts.pdf": (ROMAN_AQUEDUCTS, False),
    "photosynthesis.pdf": (PHOTOSYNTHESIS, True),  # FlateDecode content streams
}

DOCXS = {
    "jazz-improvisation.docx": (JAZZ, "en-US"),
    "origami.docx": (ORIGAMI, "en-US"),
    "ciclo-da-agua.docx": (CICLO_AGUA, "pt-BR"),
}

# --------------------------------------------------------------------------------------------
# PDF writer
# --------------------------------------------------------------------------------------------

PAGE_W, PAGE_H = 612, 792  # US Letter, points
MARGIN = 72
BODY_SIZE, BODY_LEAD, WRAP = 11, 14, 82
H1_SIZE, H2_SIZE = 18, 13


def pdf_string(text: str) -> bytes:
    """A PDF literal string (with parentheses) in WinAnsiEncoding."""
    raw = text.encode("cp1252")  # raises on characters outside WinAnsi: keep the text to it
    out = bytearray(b"(")
    for b in raw:
        if b in (0x28, 0x29, 0x5C):  # ( ) \
            out += b"\\" + bytes([b])
        elif b < 0x20 or b > 0x7E:
            out += b"\\%03o" % b
        else:
            out.append(b)
    out += b")"
    return bytes(out)


def page_content(blocks, page_no: int, page_count: int) -> bytes:
    ops = [b"BT"]
    y = PAGE_H - MARGIN
    first = True
    cur = None  # (x, y) of the current line start, for relative Td moves

    def line(font: bytes, size: int, text: str, dy: int) -> None:
        nonlocal y, cur
        y -= dy
        if y < MARGIN + 20:
            raise SystemExit(f"page {page_no} overflows; move text to the next page")
        ops.append(b"/%s %d Tf" % (font, size))
        if cur is None:
            ops.append(b"%d %d Td" % (MARGIN, y))
        else:
            ops.append(b"0 %d Td" % (y - cur[1]))
        cur = (MARGIN, y)
        ops.append(pdf_string(text) + b" Tj")

    for kind, text in blocks:
        if kind == "h1":
            line(b"F2", H1_SIZE, text, 0 if first else 30)
            y -= 10
        elif kind == "h2":
            line(b"F2", H2_SIZE, text, 0 if first else 24)
            y -= 4
        else:
            for i, ln in enumerate(textwrap.wrap(text, WRAP)):
                line(b"F1", BODY_SIZE, ln, (0 if first else 18) if i == 0 else BODY_LEAD)
                first = False
        first = False
    ops.append(b"ET")
    # page footer, positioned absolutely in its own text object
    ops += [b"BT", b"/F1 9 Tf", b"%d %d Td" % (PAGE_W // 2 - 30, 40),
            pdf_string(f"Page {page_no} of {page_count}") + b" Tj", b"ET"]
    return b"\n".join(ops) + b"\n"


def make_pdf(doc, compress: bool) -> bytes:
    pages = doc["pages"]
    n = len(pages)
    # object numbers: 1 catalog, 2 pages, 3 F1, 4 F2, 5 info, then (page, content) pairs
    objs: dict[int, bytes] = {}
    kids = [6 + 2 * i for i in range(n)]
    objs[1] = b"<< /Type /Catalog /Pages 2 0 R >>"
    objs[2] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids), n)
    objs[3] = (b"<< /Type /Font /Subtype /Type1 /Name /F1 /BaseFont /Helvetica "
               b"/Encoding /WinAnsiEncoding >>")
    objs[4] = (b"<< /Type /Font /Subtype /Type1 /Name /F2 /BaseFont /Helvetica-Bold "
               b"/Encoding /WinAnsiEncoding >>")
    objs[5] = (b"<< /Title " + pdf_string(doc["title"]) + b" /Author (ragd test corpus)"
               b" /Producer (scripts/make_corpus.py) >>")
    for i, blocks in enumerate(pages):
        page_obj, content_obj = kids[i], kids[i] + 1
        objs[page_obj] = (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] "
                          b"/Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> "
                          b"/Contents %d 0 R >>" % (PAGE_W, PAGE_H, content_obj))
        data = page_content(blocks, i + 1, n)
        if compress:
            data = zlib.compress(data, 9)
            objs[content_obj] = (b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(data)
                                 + data + b"\nendstream")
        else:
            objs[content_obj] = (b"<< /Length %d >>\nstream\n" % len(data) + data
                                 + b"\nendstream")

    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for num in sorted(objs):
        offsets[num] = len(out)
        out += b"%d 0 obj\n" % num + objs[num] + b"\nendobj\n"
    size = max(objs) + 1
    xref = len(out)
    out += b"xref\n0 %d\n" % size
    out += b"0000000000 65535 f \n"
    for num in range(1, size):
        out += b"%010d 00000 n \n" % offsets[num]
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 5 0 R >>\n" % size
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


# --------------------------------------------------------------------------------------------
# DOCX writer
# --------------------------------------------------------------------------------------------

W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
XML_DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'

CONTENT_TYPES = XML_DECL + (
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
    '<Override PartName="/word/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.styles+xml"/>'
    '<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
    '<Override PartName="/docProps/app.xml" ContentType="application/vnd.openxmlformats-officedocument.extended-properties+xml"/>'
    '</Types>')

ROOT_RELS = XML_DECL + (
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>'
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/>'
    '<Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/extended-properties" Target="docProps/app.xml"/>'
    '</Relationships>')

DOC_RELS = XML_DECL + (
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>'
    '</Relationships>')


def styles_xml(lang: str) -> str:
    def heading(num: int, size: int) -> str:
        return (f'<w:style w:type="paragraph" w:styleId="Heading{num}">'
                f'<w:name w:val="heading {num}"/><w:basedOn w:val="Normal"/>'
                f'<w:next w:val="Normal"/><w:uiPriority w:val="9"/><w:qFormat/>'
                f'<w:pPr><w:keepNext/><w:spacing w:before="240" w:after="120"/>'
                f'<w:outlineLvl w:val="{num - 1}"/></w:pPr>'
                f'<w:rPr><w:b/><w:sz w:val="{size}"/></w:rPr></w:style>')

    return XML_DECL + (
        f'<w:styles xmlns:w="{W_NS}">'
        f'<w:docDefaults><w:rPrDefault><w:rPr><w:lang w:val="{lang}"/><w:sz w:val="22"/>'
        f'</w:rPr></w:rPrDefault></w:docDefaults>'
        '<w:style w:type="paragraph" w:default="1" w:styleId="Normal"><w:name w:val="Normal"/>'
        '<w:qFormat/></w:style>'
        + heading(1, 36) + heading(2, 28) +
        '</w:styles>')


def run(text: str, bold: bool = False) -> str:
    rpr = "<w:rPr><w:b/></w:rPr>" if bold else ""
    return f'<w:r>{rpr}<w:t xml:space="preserve">{xml_escape(text)}</w:t></w:r>'


def paragraph(kind: str, text: str) -> str:
    if kind in ("h1", "h2"):
        style = "Heading1" if kind == "h1" else "Heading2"
        return f'<w:p><w:pPr><w:pStyle w:val="{style}"/></w:pPr>{run(text)}</w:p>'
    if text.startswith("**"):
        lead, rest = text[2:].split("**", 1)
        return f"<w:p>{run(lead, bold=True)}{run(rest)}</w:p>"
    return f"<w:p>{run(text)}</w:p>"


def document_xml(doc) -> str:
    body = "".join(paragraph(k, t) for k, t in doc["blocks"])
    sect = ('<w:sectPr><w:pgSz w:w="11906" w:h="16838"/>'
            '<w:pgMar w:top="1440" w:right="1440" w:bottom="1440" w:left="1440" '
            'w:header="708" w:footer="708" w:gutter="0"/></w:sectPr>')
    return XML_DECL + f'<w:document xmlns:w="{W_NS}"><w:body>{body}{sect}</w:body></w:document>'


def core_xml(doc, lang: str) -> str:
    return XML_DECL + (
        '<cp:coreProperties '
        'xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:dcterms="http://purl.org/dc/terms/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f'<dc:title>{xml_escape(doc["title"])}</dc:title>'
        '<dc:creator>ragd test corpus</dc:creator>'
        f'<dc:language>{lang}</dc:language>'
        '<dcterms:created xsi:type="dcterms:W3CDTF">2025-01-01T00:00:00Z</dcterms:created>'
        '</cp:coreProperties>')


APP_XML = XML_DECL + (
    '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">'
    '<Application>scripts/make_corpus.py</Application></Properties>')

ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def make_zip(parts: list[tuple[str, str | bytes]]) -> bytes:
    import io

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in parts:
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, regardless of the host
            info.external_attr = 0o644 << 16
            zf.writestr(info, data.encode("utf-8") if isinstance(data, str) else data,
                        compresslevel=9)
    return buf.getvalue()


def make_docx(doc, lang: str) -> bytes:
    return make_zip([
        ("[Content_Types].xml", CONTENT_TYPES),
        ("_rels/.rels", ROOT_RELS),
        ("word/document.xml", document_xml(doc)),
        ("word/_rels/document.xml.rels", DOC_RELS),
        ("word/styles.xml", styles_xml(lang)),
        ("docProps/core.xml", core_xml(doc, lang)),
        ("docProps/app.xml", APP_XML),
    ])


# --------------------------------------------------------------------------------------------
# Files that must fail to ingest
# --------------------------------------------------------------------------------------------


def bad_files() -> dict[str, bytes]:
    rng = random.Random(20250101)
    files: dict[str, bytes] = {}

    # A PDF header followed by garbage, cut off mid-object: no xref table, no trailer, no %%EOF.
    files["corrupt.pdf"] = (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R"
                            + rng.randbytes(700) + b"\nstream\nx\x9c\xab\x00")

    # Random bytes with NULs throughout: not text in any encoding.
    data = bytearray(rng.randbytes(2048))
    for i in range(0, len(data), 37):
        data[i] = 0
    files["binary.txt"] = bytes(data)

    # Valid Latin-1 (ISO-8859-1) Portuguese that is invalid UTF-8 (e.g. "ação" -> a\xe7\xe3o).
    files["latin1.txt"] = ("Informação sobre a criação de abelhas e a produção de mel no sertão.\n"
                           "A ação das operárias começa cedo.\n").encode("latin-1")

    # A well-formed zip (with a plausible [Content_Types].xml) but without word/document.xml.
    files["broken.docx"] = make_zip([
        ("[Content_Types].xml", CONTENT_TYPES),
        ("_rels/.rels", ROOT_RELS),
        ("docProps/core.xml", core_xml({"title": "Broken"}, "en-US")),
    ])

    # Zero bytes.
    files["empty.md"] = b""
    return files


# --------------------------------------------------------------------------------------------


def outputs() -> dict[Path, bytes]:
    out: dict[Path, bytes] = {}
    for name, (doc, compress) in PDFS.items():
        out[CORPUS / name] = make_pdf(doc, compress)
    for name, (doc, lang) in DOCXS.items():
        out[CORPUS / name] = make_docx(doc, lang)
    for name, data in bad_files().items():
        out[BAD / name] = data
    # sanity checks on the bad files' reasons for failing
    try:
        out[BAD / "latin1.txt"].decode("utf-8")
        raise SystemExit("latin1.txt unexpectedly decodes as UTF-8")
    except UnicodeDecodeError:
        pass
    assert b"\x00" in out[BAD / "binary.txt"]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true",
                    help="write nothing; exit 1 if any generated file is missing or differs")
    args = ap.parse_args()

    stale = []
    for path, data in outputs().items():
        rel = path.relative_to(ROOT)
        current = path.read_bytes() if path.exists() else None
        if current == data:
            print(f"unchanged  {rel}")
            continue
        stale.append(rel)
        if args.check:
            print(f"STALE      {rel}")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            print(f"wrote      {rel} ({len(data)} bytes)")
    if args.check and stale:
        print(f"{len(stale)} file(s) out of date; run scripts/make_corpus.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
